"""The drill scheduler: raises what is due, follows schedule changes, one holder of its lock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from notifier.access import Principal
from notifier.cron import parse_cron
from notifier.domain import Role
from notifier.drill_request import parse_drill_request
from notifier.drill_scheduler import DrillScheduler, DrillTrigger
from notifier.messages import SHIPPED_TEMPLATES, load_templates
from notifier.settings import DrillsSettings
from notifier.store import drills
from notifier.store.engine import Database
from notifier.store.scheduler_lock import APPLICATION_NAME, AdvisoryLock, scheduler_lock
from notifier.store.tables import Alert
from tests.clock import HandClock
from tests.postgres import throwaway_schema
from tests.seeding import nairobi_people, seed

ADDED = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.ADMIN)
TEMPLATES = load_templates(SHIPPED_TEMPLATES)
NEW_YORK = ZoneInfo("America/New_York")


async def _add(database: Database, name: str, cron: str, at: datetime = ADDED) -> None:
    request = parse_drill_request({"name": name, "stations": ["NBO"], "cron": cron})
    async with database.session() as session:
        await drills.add_drill(session, request, ADMIN, at)


async def _alerts(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Alert)) or 0)


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the scheduler did not get there in time"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def _running(scheduler: DrillScheduler) -> AsyncIterator[asyncio.Event]:
    stopping = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stopping))
    try:
        yield stopping
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)


def _scheduler(
    database: Database, clock: HandClock, wake: Callable[[], None] = lambda: None
) -> DrillScheduler:
    return DrillScheduler(
        database,
        TEMPLATES,
        DrillsSettings(),
        clock,
        scheduler_lock(database, "test-worker"),
        wake,
        poll_seconds=0.1,
    )


async def test_the_scheduler_raises_what_fell_due_and_wakes_the_dispatcher(
    database: Database,
) -> None:
    """At start it raises a firing due within the grace, and wakes the dispatcher once."""
    await seed(database, nairobi_people(2))
    await _add(database, "monthly", "0 11 1 * *", at=ADDED - timedelta(days=1))  # 08:00 UTC
    woken: list[bool] = []
    scheduler = _scheduler(
        database, HandClock(ADDED + timedelta(minutes=5)), lambda: woken.append(True)
    )
    async with _running(scheduler):
        await _until(lambda: bool(woken))
        assert scheduler.leading
    assert await _alerts(database) == 1
    assert not scheduler.leading


async def test_jobs_follow_changes_made_anywhere(database: Database) -> None:
    """A drill added, paused or resumed (by any replica) is in the jobs within a poll."""
    await seed(database, nairobi_people(1))
    scheduler = _scheduler(database, HandClock(ADDED))
    async with _running(scheduler):
        await _until(lambda: scheduler.leading)
        assert scheduler.next_runs() == {}
        await _add(database, "every-minute", "* * * * *", at=datetime.now(UTC))
        await _until(lambda: "every-minute" in scheduler.next_runs())
        upcoming = scheduler.next_runs()["every-minute"]
        assert upcoming > datetime.now(UTC) - timedelta(seconds=5)
        assert (upcoming.second, upcoming.microsecond) == (0, 0)
        async with database.session() as session:
            await drills.set_paused(session, "every-minute", ADMIN, paused=True, now=ADDED)
        await _until(lambda: "every-minute" not in scheduler.next_runs())
        async with database.session() as session:
            await drills.set_paused(session, "every-minute", ADMIN, paused=False, now=ADDED)
        await _until(lambda: "every-minute" in scheduler.next_runs())


def test_the_trigger_fires_once_on_the_night_clocks_go_back() -> None:
    """01:30 in New York on 2027-11-07 (repeated that night) fires once, then the next day."""
    trigger = DrillTrigger(parse_cron("30 1 * * *", NEW_YORK))
    first = trigger.get_next_fire_time(None, datetime(2027, 11, 7, 4, 0, tzinfo=UTC))
    assert first == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT
    after = trigger.get_next_fire_time(first, first)
    assert after == datetime(2027, 11, 8, 6, 30, tzinfo=UTC)  # 01:30 EST, the next day


def test_the_trigger_fires_a_skipped_time_an_hour_later() -> None:
    """02:30 in New York on 2027-03-14 (skipped that night) fires at 03:30 EDT."""
    trigger = DrillTrigger(parse_cron("30 2 14 3 *", NEW_YORK))
    found = trigger.get_next_fire_time(None, datetime(2027, 3, 14, 0, 0, tzinfo=UTC))
    assert found == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    assert found.astimezone(NEW_YORK).hour == 3


@pytest.mark.postgres
async def test_one_replica_holds_the_lock_and_another_takes_it_when_it_dies(
    postgres_url: str,
) -> None:
    """The lock is granted once; when its holder's connection dies the next try gets it."""
    async with throwaway_schema(postgres_url, "lock") as database:
        first = AdvisoryLock(database, "replica-a")
        second = AdvisoryLock(database, "replica-b")
        try:
            assert await first.acquire()
            assert await first.acquire()  # held already
            assert not await second.acquire()
            await first.check()
            killer = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
            async with killer.connect() as connection:
                ended = await connection.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": f"{APPLICATION_NAME} replica-a"},
                )
            await killer.dispose()
            assert ended == 1
            with pytest.raises((DBAPIError, OSError)):
                await first.check()
            deadline = time.monotonic() + 5
            while not await second.acquire():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            assert not await first.acquire()  # the survivor holds it now
        finally:
            await first.close()
            await second.close()


@pytest.mark.postgres
async def test_installations_in_schemas_of_their_own_have_a_lock_each(postgres_url: str) -> None:
    """The lock is named after the schema: two schemas of one database each get theirs."""
    async with (
        throwaway_schema(postgres_url, "lock_one") as one,
        throwaway_schema(postgres_url, "lock_two") as two,
    ):
        first, second = AdvisoryLock(one, "replica-a"), AdvisoryLock(two, "replica-b")
        try:
            assert await first.acquire()
            assert await second.acquire()
            assert not await AdvisoryLock(one, "replica-c").acquire()
        finally:
            await first.close()
            await second.close()
