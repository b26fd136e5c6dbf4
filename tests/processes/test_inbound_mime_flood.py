"""Replies of tens of thousands of MIME parts, at once, do not starve a running daemon."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from notifier import ack_tokens
from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT
from tests.processes.daemons import (
    REPOSITORY,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.seeding import seed

REPLIES = 12
PARTS = 24_000
HEALTHY_WITHIN_SECONDS = 2.0
"""Generous on a loaded machine: unbounded parsing held /healthz 3 to 6 s, with a 503."""


async def test_twelve_replies_of_24000_parts_leave_healthz_answering(tmp_path: Path) -> None:
    """Twelve 0.86 MB replies of 24,000 parts at once: /healthz stays 200 within 2 s; each is read."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'flood.db'}"
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, ["E1,Eve Mail,e1@example.org,+254733300001,NBO,en,"])
        async with database.session() as session:
            request = AlertRequest(title="Fire", message="Leave.", stations=("NBO",))
            alert = await alerts.create_alert(session, request, Principal("o", Role.ADMIN))
            person = (await session.execute(select(PERSON.c.id))).scalar_one()
        assert alert.id is not None
        http_port, inbound_port = free_port(), free_port()
        env = daemon_environment(
            url,
            free_port(),
            "http://127.0.0.1:9",
            http_port,
            NOTIFIER_EMAIL__BACKEND="console",
            NOTIFIER_SMS__BACKEND="console",
            NOTIFIER_EMAIL__REPLY_DOMAIN="reply.example.org",
            NOTIFIER_EMAIL__INBOUND__ENABLED="true",
            NOTIFIER_EMAIL__INBOUND__PORT=str(inbound_port),
        )
        secret = env["NOTIFIER_SECURITY__SECRET_KEY"].encode()
        token = ack_tokens.issue(secret, alert.id, person, datetime.now(UTC) + timedelta(days=3))
        log = tmp_path / "daemon.log"
        daemon = start_daemon(env, log)
        try:
            await wait_healthy(daemon, http_port, log)
            answers, timings = await _flood_while_polling(
                inbound_port, f"ack+{token}@reply.example.org", http_port
            )
        finally:
            stop(daemon)
        async with database.session() as session:
            response = (await session.execute(select(RECIPIENT.c.response))).scalar_one()
    assert answers == [250] * REPLIES
    assert len(timings) >= 5, timings
    slow = [t for t in timings if t[0] != 200 or t[1] > HEALTHY_WITHIN_SECONDS]
    assert slow == [], timings
    assert response == "safe"


async def _flood_while_polling(
    smtp_port: int, address: str, http_port: int
) -> tuple[list[int], list[tuple[int | str, float]]]:
    """Send the replies from another process while /healthz is asked every 0.1 s."""
    flood = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.processes.mime_flood",
        str(smtp_port),
        address,
        str(REPLIES),
        str(PARTS),
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
    )
    sending = asyncio.create_task(flood.communicate())
    timings: list[tuple[int | str, float]] = []
    async with httpx.AsyncClient() as client:
        while not sending.done():
            started = time.monotonic()
            status: int | str
            try:
                response = await client.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10)
                status = response.status_code
            except httpx.TransportError as error:
                status = repr(error)
            timings.append((status, round(time.monotonic() - started, 3)))
            await asyncio.sleep(0.1)
    output, _ = await sending
    return json.loads(output), timings
