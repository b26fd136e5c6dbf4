"""Drills on running daemons: a drill every minute raises one alert a minute, whoever holds the lock.

The test waits for real minutes to pass (crontab's smallest step): one or two. The daemon on
SQLite and the two on PostgreSQL run at the same time, so the wait is paid once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from notifier.store import schema
from notifier.store.drill_firings import DRILL_FIRING
from notifier.store.engine import Database
from notifier.store.scheduler_lock import APPLICATION_NAME
from notifier.store.tables import ALERT
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    REPOSITORY,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.seeding import nairobi_people, seed

MINUTE_AND_SOME = 75.0
"""How long the next firing of a drill every minute may take to appear: the minute, the
scheduler's poll and a takeover of its lock."""


def _notifier(env: dict[str, str], *arguments: str) -> str:
    """Run `notifier ARGUMENTS` as a user would; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "notifier", *arguments],
        env=env,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _firings(database: Database) -> list[tuple[datetime, int | None, int | None]]:
    """Each firing's scheduled time, alert and that alert's drill, in order."""
    async with database.session() as session:
        query = (
            select(DRILL_FIRING.c.scheduled_at, DRILL_FIRING.c.alert_id, ALERT.c.drill_id)
            .outerjoin(ALERT, ALERT.c.id == DRILL_FIRING.c.alert_id)
            .order_by(DRILL_FIRING.c.scheduled_at)
        )
        rows = (await session.execute(query)).all()
    return [(scheduled, alert, drill) for scheduled, alert, drill in rows]


async def _drill_alerts(database: Database) -> int:
    async with database.session() as session:
        rows = (await session.execute(select(ALERT.c.id).where(ALERT.c.kind == "drill"))).all()
    return len(rows)


async def _wait_for_firings(database: Database, count: int) -> None:
    deadline = time.monotonic() + MINUTE_AND_SOME
    while len(await _firings(database)) < count:
        assert time.monotonic() < deadline, f"no firing number {count} within a minute"
        await asyncio.sleep(0.5)


def _add_every_minute(env: dict[str, str]) -> tuple[dict[str, object], datetime]:
    """`drill add` with `* * * * *`, then `drill list --json`'s entry for it, and when the
    list was asked for."""
    _notifier(env, "drill", "add", "minutely", "--stations", "NBO", "--cron", "* * * * *")
    asked = datetime.now(UTC)
    (listed,) = json.loads(_notifier(env, "drill", "list", "--json"))
    assert isinstance(listed, dict)
    return listed, asked


def _check_next_run(found: tuple[dict[str, object], datetime]) -> None:
    """The next run is a whole minute, the coming one when the list was asked for (or the
    one after, when a minute began as the command started), in the station's time and UTC."""
    listed, asked = found
    local = datetime.fromisoformat(str(listed["next_run"]))
    utc = datetime.fromisoformat(str(listed["next_run_utc"]))
    assert local == utc
    assert local.utcoffset() == timedelta(hours=3)  # Africa/Nairobi
    assert utc.utcoffset() == timedelta(0)
    assert (utc.second, utc.microsecond) == (0, 0)
    assert timedelta(0) < utc - asked <= timedelta(minutes=2)
    assert (utc.second, utc.microsecond) == (0, 0)


@pytest.mark.postgres
async def test_drills_fire_on_running_daemons(postgres_database: str, tmp_path: Path) -> None:
    """A drill every minute on one daemon on SQLite and on two daemons on PostgreSQL."""
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
    async with (
        Database.open(sqlite_url) as sqlite,
        Database.open(postgres_database) as postgresql,
    ):
        for database in (sqlite, postgresql):  # one at a time: migrations share Alembic's context
            await schema.upgrade(database)
            await seed(database, nairobi_people(3))
        (tmp_path / "sqlite").mkdir()
        (tmp_path / "postgresql").mkdir()
        await asyncio.gather(
            _one_daemon_on_sqlite(sqlite, sqlite_url, tmp_path / "sqlite"),
            _two_daemons_on_postgresql(postgresql, postgres_database, tmp_path / "postgresql"),
        )


async def _one_daemon_on_sqlite(database: Database, url: str, tmp_path: Path) -> None:
    """Added with the CLI, the drill raises its alert within the minute, and it is sent."""
    async with FakeSmtpServer() as smtp, FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        port = free_port()
        env = daemon_environment(url, smtp.port, twilio.base_url, port)
        log = tmp_path / "daemon.log"
        process = start_daemon(env, log)
        try:
            await wait_healthy(process, port, log)
            _check_next_run(_add_every_minute(env))
            await _wait_for_firings(database, 1)
            ((_, alert_id, drill_id),) = await _firings(database)
            assert alert_id is not None and drill_id is not None
            assert await _drill_alerts(database) == 1
            deadline = time.monotonic() + 30
            while len(smtp.messages) < 3:  # the dispatcher was woken: everyone is sent to
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.2)
        finally:
            stop(process)


async def _lock_holder(database: Database) -> int | None:
    """The process id of the daemon holding the scheduler lock, from its connection's name
    (on this test's database: other tests' daemons hold locks of their own)."""
    async with database.session(read_only=True) as session:
        name = await session.scalar(
            text(
                "SELECT application_name FROM pg_stat_activity"
                " WHERE application_name LIKE :n AND datname = current_database()"
            ),
            {"n": f"{APPLICATION_NAME} %"},
        )
    if name is None:
        return None
    # The worker's name is host-pid-suffix; the host may hold dashes itself.
    return int(str(name).removeprefix(APPLICATION_NAME).strip().rsplit("-", 2)[1])


async def _two_daemons_on_postgresql(
    database: Database, postgres_database: str, tmp_path: Path
) -> None:
    """Two replicas: one alert per firing; SIGKILL the lock's holder and the other raises the
    next firing."""
    async with FakeSmtpServer() as smtp, FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        daemons: dict[int, subprocess.Popen[bytes]] = {}
        env: dict[str, str] = {}
        try:
            for index in range(2):
                port = free_port()
                env = daemon_environment(postgres_database, smtp.port, twilio.base_url, port)
                log = tmp_path / f"daemon-{index}.log"
                process = start_daemon(env, log)
                await wait_healthy(process, port, log)
                daemons[process.pid] = process
            _check_next_run(_add_every_minute(env))
            await _wait_for_firings(database, 1)
            holder = await _lock_holder(database)
            assert holder in daemons
            os.kill(holder, signal.SIGKILL)
            daemons.pop(holder).wait()
            await _wait_for_firings(database, 2)
            (survivor,) = daemons
            deadline = time.monotonic() + 10
            while await _lock_holder(database) != survivor:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            firings = await _firings(database)
            assert len(firings) == 2
            assert all(alert is not None and drill is not None for _, alert, drill in firings)
            assert firings[1][0] - firings[0][0] == timedelta(minutes=1)
            assert await _drill_alerts(database) == 2
        finally:
            for process in daemons.values():
                stop(process)
