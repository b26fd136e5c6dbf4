"""A database that goes away mid-alert (a PostgreSQL failover, a locked SQLite file) is waited out.

The daemon keeps running, answers /healthz with 503 while PostgreSQL is away, and once the
database is back it reaches everyone, repeating at most the sends that were under way.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.store import alerts, schema
from notifier.store.engine import SQLITE_BUSY_TIMEOUT_MS, Database
from notifier.store.tables import DELIVERY
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    events,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.processes.tcp_proxy import TcpProxy
from tests.seeding import nairobi_people, seed

PEOPLE = 1500
SMS_CONCURRENCY = 8
EMAIL_POOL = 4
IN_FLIGHT = SMS_CONCURRENCY + EMAIL_POOL
OUTAGE_SECONDS = 5.0
LOCK_SECONDS = (SQLITE_BUSY_TIMEOUT_MS + 2000) / 1000
"""Longer than SQLite's busy timeout: the daemon's writes fail with `database is locked`."""
SETTLE_SECONDS = 90


@dataclass
class Fakes:
    """The fake providers, and what they received."""

    smtp: FakeSmtpServer
    twilio: FakeTwilioServer
    health: list[tuple[float, int | None]] = field(default_factory=list)
    """(time.monotonic(), /healthz status or None when it did not answer) while watched."""

    @property
    def sent(self) -> int:
        return len(self.twilio.messages) + len(self.smtp.messages)

    def duplicates(self) -> int:
        sms = Counter(message.to for message in self.twilio.messages)
        mail = Counter(message.rcpt_tos for message in self.smtp.messages)
        return sum(sms.values()) - len(sms) + sum(mail.values()) - len(mail)

    def reached(self) -> tuple[int, int]:
        """People sent an SMS, people sent an e-mail."""
        return (
            len({message.to for message in self.twilio.messages}),
            len({message.rcpt_tos for message in self.smtp.messages}),
        )


async def _raise_alert(database: Database) -> None:
    async with database.session() as session:
        request = AlertRequest(title="Earthquake", message="Leave now.", stations=("NBO",))
        await alerts.create_alert(session, request, Principal("officer", Role.ADMIN))


async def _unsettled(database: Database) -> int:
    async with database.session(read_only=True) as session:
        query = select(func.count()).where(DELIVERY.c.status.in_(("queued", "sending")))
        return int((await session.execute(query)).scalar_one())


async def _until(fakes: Fakes, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while fakes.sent < count and process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def _settle(database: Database, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        if not await _unsettled(database):
            return
        await asyncio.sleep(0.2)


async def _watch_health(fakes: Fakes, port: int, stop_watching: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        while not stop_watching.is_set():
            try:
                status: int | None = (await client.get("/healthz", timeout=8)).status_code
            except httpx.TransportError:
                status = None
            fakes.health.append((time.monotonic(), status))
            await asyncio.sleep(0.2)


@pytest.mark.postgres
async def test_postgresql_cut_mid_alert_is_waited_out(
    postgres_database: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Connections cut for 5 s a third of the way in: the daemon lives on and reaches everyone."""
    total = 2 * PEOPLE
    log = tmp_path / "daemon.log"
    async with Database.open(postgres_database) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        target = make_url(postgres_database)
        async with (
            TcpProxy(target.port or 5432, target.host or "127.0.0.1") as proxy,
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=0.005) as twilio,
        ):
            fakes = Fakes(smtp, twilio)
            port = free_port()
            through_proxy = target.set(host="127.0.0.1", port=proxy.port)
            env = daemon_environment(
                through_proxy.render_as_string(hide_password=False),
                smtp.port,
                twilio.base_url,
                port,
                NOTIFIER_LOGGING__LEVEL="info",
            )
            daemon = start_daemon(env, log)
            stop_watching = asyncio.Event()
            try:
                await wait_healthy(daemon, port, log)
                await _raise_alert(database)
                await _until(fakes, total // 3, daemon)
                assert daemon.poll() is None, log.read_text()[-3000:]
                watcher = asyncio.create_task(_watch_health(fakes, port, stop_watching))
                proxy.cut()
                cut_at = time.monotonic()
                at_cut = fakes.sent
                await asyncio.sleep(OUTAGE_SECONDS)
                proxy.restore()
                restored_at = time.monotonic()
                at_restore = fakes.sent
                await _until(fakes, at_restore + 1, daemon)
                resumed_after = time.monotonic() - restored_at
                await _settle(database, daemon)
                stop_watching.set()
                await watcher
                running = daemon.poll() is None
            finally:
                stop_watching.set()
                stop(daemon)
            record_property("sent_at_cut", at_cut)
            record_property("sent_at_restore", at_restore)
            record_property("resumed_seconds_after_restore", round(resumed_after, 2))
            record_property("duplicates", fakes.duplicates())
            assert running, f"the daemon exited during the outage:\n{log.read_text()[-3000:]}"
            assert await _unsettled(database) == 0, log.read_text()[-3000:]
    assert fakes.reached() == (PEOPLE, PEOPLE)
    assert fakes.duplicates() <= IN_FLIGHT
    during = [status for at, status in fakes.health if cut_at < at < restored_at - 1]
    after = [status for at, status in fakes.health if at > restored_at]
    assert 503 in during, fakes.health
    assert after and after[-1] == 200, fakes.health
    warnings = events(log, "database_unavailable")
    assert 1 <= len(warnings) <= 2, warnings
    assert len(events(log, "database_available")) == len(warnings)


async def test_sqlite_locked_by_another_process_mid_alert_is_waited_out(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """The write lock held elsewhere past the busy timeout: the daemon finishes, nobody twice."""
    path = tmp_path / "notifier.db"
    url = f"sqlite+aiosqlite:///{path}"
    log = tmp_path / "daemon.log"
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=0.005) as twilio,
        ):
            fakes = Fakes(smtp, twilio)
            port = free_port()
            env = daemon_environment(
                url, smtp.port, twilio.base_url, port, NOTIFIER_LOGGING__LEVEL="info"
            )
            daemon = start_daemon(env, log)
            try:
                await wait_healthy(daemon, port, log)
                await _raise_alert(database)
                await _until(fakes, 2 * PEOPLE // 3, daemon)
                other = sqlite3.connect(path, isolation_level=None)  # a backup, a batch job
                other.execute("BEGIN EXCLUSIVE")
                await asyncio.sleep(LOCK_SECONDS)
                other.execute("ROLLBACK")
                other.close()
                unlocked_at, at_unlock = time.monotonic(), fakes.sent
                await _until(fakes, at_unlock + 1, daemon)
                record_property("resumed_seconds_after_unlock", time.monotonic() - unlocked_at)
                await _settle(database, daemon)
                running = daemon.poll() is None
            finally:
                stop(daemon)
            assert running, f"the daemon exited while locked out:\n{log.read_text()[-3000:]}"
            assert await _unsettled(database) == 0, log.read_text()[-3000:]
    record_property("duplicates", fakes.duplicates())
    assert fakes.reached() == (PEOPLE, PEOPLE)
    assert fakes.duplicates() == 0
    assert [event["loop"] for event in events(log, "database_unavailable")], "never locked out"
    assert events(log, "database_available")
