"""A daemon killed with SIGKILL mid fan-out and started again completes every delivery."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func, select

from notifier.domain import Role
from notifier.store import schema, tokens
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY
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

PEOPLE = 600
SMS_CONCURRENCY = 8
EMAIL_POOL = 4


async def _settled(database: Database) -> bool:
    async with database.session() as session:
        query = select(func.count()).where(DELIVERY.c.status.in_(("queued", "sending")))
        pending = (await session.execute(query)).scalar_one()
        total = (await session.execute(select(func.count()).select_from(DELIVERY))).scalar_one()
    return total == 2 * PEOPLE and pending == 0


async def test_sigkill_mid_fan_out_then_restart_completes_everything(tmp_path: Path) -> None:
    """Every person gets the alert; duplicates are bounded by the sends in flight at the kill."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        async with database.session() as session:
            token = await tokens.create_token(session, "officer", Role.ADMIN, [], actor="test")
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=0.01) as twilio,
        ):
            port = free_port()
            env = daemon_environment(url, smtp.port, twilio.base_url, port)
            log = tmp_path / "daemon.log"
            first = start_daemon(env, log)
            try:
                await wait_healthy(first, port, log)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    answer = await client.post(
                        "/api/v1/alerts",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"title": "Earthquake", "message": "Leave now.", "stations": ["NBO"]},
                    )
                assert answer.status_code == 202, answer.text
                deadline = time.monotonic() + 60
                while (
                    len(twilio.messages) + len(smtp.messages) < 200 and time.monotonic() < deadline
                ):
                    await asyncio.sleep(0.02)
                first.send_signal(signal.SIGKILL)
                first.wait(10)
                at_kill = len(twilio.messages) + len(smtp.messages)
                assert 0 < at_kill < 2 * PEOPLE, "the kill must land in the middle of the fan-out"
            finally:
                stop(first)
            second = start_daemon(env, log)
            try:
                await wait_healthy(second, port, log)
                deadline = time.monotonic() + 90
                while not await _settled(database) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
            finally:
                stop(second)
            assert await _settled(database), log.read_text()[-3000:]
            sms = Counter(message.to for message in twilio.messages)
            mail = Counter(message.rcpt_tos for message in smtp.messages)

    assert len(sms) == PEOPLE
    assert len(mail) == PEOPLE
    duplicates = sum(sms.values()) - PEOPLE + sum(mail.values()) - PEOPLE
    # In flight: sending (the concurrency) or sent with the outcome being written (as many).
    assert duplicates <= 2 * (SMS_CONCURRENCY + EMAIL_POOL), duplicates
