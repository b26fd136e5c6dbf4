"""`notifier serve` tells on /healthz and /metrics that its mail relay is down, and when it is back."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Role
from notifier.store import alerts, schema
from notifier.store.engine import Database
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.seeding import nairobi_people, seed

WAIT_SECONDS = 30


async def _until(
    client: httpx.AsyncClient, channel: str, state: str, log: Path
) -> tuple[int, dict[str, Any]]:
    """GET /healthz until `channel` is in `state`; the status code and body then."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        answer = await client.get("/healthz", timeout=5)
        body = answer.json()
        if body["channels"][channel]["state"] == state:
            return answer.status_code, body
        assert time.monotonic() < deadline, f"{body}\n{log.read_text()[-3000:]}"
        await asyncio.sleep(0.1)


async def _channel_up(client: httpx.AsyncClient) -> dict[str, str]:
    answer = await client.get("/metrics", timeout=5)
    prefix = 'notifier_channel_up{channel="'
    return dict(
        line.removeprefix(prefix).split('"} ')
        for line in answer.text.splitlines()
        if line.startswith(prefix)
    )


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [event for event in events if event.get("event") == name]


async def test_a_relay_refusing_connections_shows_failing_then_ok(tmp_path: Path) -> None:
    """The relay down: email failing on /healthz (200) and 0 on /metrics; back: ok after a send."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
    log = tmp_path / "daemon.log"
    smtp_port = free_port()  # nobody listens yet: every connection is refused
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(1))
        async with FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio:
            port = free_port()
            env = daemon_environment(
                url,
                smtp_port,
                twilio.base_url,
                port,
                NOTIFIER_DISPATCH__MAX_ATTEMPTS="100",
                NOTIFIER_DISPATCH__BACKOFF_MAX_SECONDS="0.5",
                NOTIFIER_LOGGING__LEVEL="info",
            )
            daemon = start_daemon(env, log)
            try:
                await wait_healthy(daemon, port, log)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    idle = (await client.get("/healthz")).json()["channels"]
                    request = AlertRequest(
                        title="Fire", message="Leave.", stations=("NBO",), channels=(Channel.EMAIL,)
                    )
                    async with database.session() as session:
                        await alerts.create_alert(session, request, Principal("o", Role.ADMIN))
                    failing_status, failing = await _until(client, "email", "failing", log)
                    up_while_failing = await _channel_up(client)
                    async with FakeSmtpServer(port=smtp_port) as smtp:
                        ok_status, ok = await _until(client, "email", "ok", log)
                        received = len(smtp.messages)
                    up_after = await _channel_up(client)
            finally:
                stop(daemon)
    assert idle == {"email": {"state": "idle"}, "sms": {"state": "idle"}}
    assert failing_status == 200
    assert (failing["status"], failing["database"]) == ("ok", "ok")
    email = failing["channels"]["email"]
    assert "connect" in email["error"].lower(), email
    assert datetime.fromisoformat(email["since"]) <= datetime.now(UTC)
    assert up_while_failing == {"email": "0", "sms": "1"}
    assert ok_status == 200
    assert ok["channels"] == {"email": {"state": "ok"}, "sms": {"state": "idle"}}
    assert received == 1
    assert up_after == {"email": "1", "sms": "1"}
    assert [event["channel"] for event in _events(log, "channel_failing")] == ["email"]
    assert [event["channel"] for event in _events(log, "channel_recovered")] == ["email"]
