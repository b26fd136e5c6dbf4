"""The planner's statistics refreshed once an alert fills the outbox (PostgreSQL), and the
check for several open alerts and the claim reading only the rows they need, whatever the
statistics say."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text

from notifier.domain import AlertKind
from notifier.store.engine import Database
from notifier.store.sending_postgres import CLAIM, SEVERAL_OPEN_ALERTS
from notifier.store.statistics import PlannerStatistics
from tests.seeding import nairobi_people, seed
from tests.store.test_hot_path import NOW, raise_alert


@asynccontextmanager
async def kept(statistics: PlannerStatistics) -> AsyncIterator[None]:
    """`statistics` refreshing when asked until the block ends."""
    stopping = asyncio.Event()
    task = asyncio.create_task(statistics.keep(stopping))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, 5)


async def until_refreshed(statistics: PlannerStatistics, times: int) -> None:
    for _ in range(100):
        if statistics.refreshed >= times:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"refreshed {statistics.refreshed} times, not {times}")


async def recipients_known_to_the_planner(database: Database) -> float:
    """The number of recipients the planner's statistics count (-1 before any analysis)."""
    async with database.session(read_only=True) as session:
        found = await session.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'recipient'::regclass")
        )
        return float(found.scalar_one())


async def test_nothing_to_refresh_on_sqlite(database: Database) -> None:
    statistics = PlannerStatistics(database)
    assert statistics.applies == (database.direct is not None)
    if statistics.applies:
        return
    statistics.request()
    await asyncio.wait_for(statistics.keep(asyncio.Event()), 1)  # returns at once
    assert statistics.refreshed == 0


@pytest.mark.postgres
async def test_a_request_brings_the_statistics_up_to_date(asyncpg_database: Database) -> None:
    database = asyncpg_database
    await seed(database, nairobi_people(300))
    await raise_alert(database)
    assert await recipients_known_to_the_planner(database) < 300
    statistics = PlannerStatistics(database)
    async with kept(statistics):
        await asyncio.sleep(0.2)
        assert statistics.refreshed == 0, "refreshed unasked"
        statistics.request()
        await until_refreshed(statistics, 1)
    assert await recipients_known_to_the_planner(database) == 300


@pytest.mark.postgres
async def test_requests_meanwhile_make_one_more_refresh(asyncpg_database: Database) -> None:
    statistics = PlannerStatistics(asyncpg_database, spacing=0.5)
    async with kept(statistics):
        statistics.request()
        await until_refreshed(statistics, 1)
        for _ in range(5):
            statistics.request()
        await asyncio.sleep(0.2)
        assert statistics.refreshed == 1, "refreshed again before the spacing had passed"
        await until_refreshed(statistics, 2)
        await asyncio.sleep(1.0)
        assert statistics.refreshed == 2, "five requests made more than one refresh"


def rows_read(plan: dict[str, Any], table: str) -> float:
    """The rows of `table` the scans of a plan node and those under it read (kept or
    filtered out)."""
    rows = 0.0
    if plan.get("Relation Name") == table and plan["Node Type"].endswith("Scan"):
        read = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
        rows += read * plan["Actual Loops"]
    for below in plan.get("Plans", []):
        rows += rows_read(below, table)
    return rows


def plan_of(explained: Any) -> dict[str, Any]:
    """The top node of `EXPLAIN (FORMAT JSON)`'s answer, as asyncpg gives it."""
    plans = json.loads(explained) if isinstance(explained, str) else explained
    node: dict[str, Any] = plans[0]["Plan"]
    return node


@pytest.mark.postgres
async def test_several_open_alerts_reads_only_the_people_asked_for(
    asyncpg_database: Database,
) -> None:
    """The statistics analysed while the outbox was empty take each alert for a small one;
    the check still reads no more recipients than people asked for times alerts open."""
    database = asyncpg_database
    await seed(database, nairobi_people(2000))
    async with database.session() as session:
        await session.execute(text("ANALYZE"))
    await raise_alert(database, AlertKind.DRILL)
    await raise_alert(database)
    async with database.session(read_only=True) as session:
        ids = await session.execute(text("SELECT id FROM person ORDER BY id LIMIT 50"))
        people = [person for (person,) in ids]

    async def explained(connection: Any) -> tuple[set[int], Any]:
        several = {row[0] for row in await connection.fetch(SEVERAL_OPEN_ALERTS, people)}
        plan = await connection.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {SEVERAL_OPEN_ALERTS}", people
        )
        return several, plan_of(plan)

    assert database.direct is not None
    several, plan = await database.direct.run(explained)
    assert several == set(people), "each of them was sent both alerts"
    read = rows_read(plan, "recipient")
    assert read <= 2 * len(people), json.dumps(plan, indent=1)


@pytest.mark.postgres
async def test_a_claim_reads_only_what_it_leases(asyncpg_database: Database) -> None:
    """Without statistics (the roster just imported, the alert just queued: none yet), the
    planner guesses the tables' sizes from their pages; a claim still reads one queued
    delivery, one row to lease and one person for each delivery it leases."""
    database = asyncpg_database
    await seed(database, nairobi_people(3000))
    await raise_alert(database)

    async def explained(connection: Any) -> dict[str, Any]:
        leasing = connection.transaction()
        await leasing.start()
        try:
            plan = await connection.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {CLAIM}", "sms", NOW, 50, "w", 60.0
            )
        finally:
            await leasing.rollback()  # the leases are not kept
        return plan_of(plan)

    assert database.direct is not None
    plan = await database.direct.run(explained)
    assert plan["Actual Rows"] == 50, "the claim leases as many as asked"
    assert rows_read(plan, "person") == 50, json.dumps(plan, indent=1)
    assert rows_read(plan, "delivery") == 2 * 50, json.dumps(plan, indent=1)


@pytest.mark.postgres
async def test_a_stop_does_not_wait_for_a_refresh_held_up(asyncpg_database: Database) -> None:
    """A refresh waiting for the tables (locked here by another session) is abandoned when
    the daemon stops, and the error of a failed one does not end the loop."""
    database = asyncpg_database
    statistics = PlannerStatistics(database)
    stopping = asyncio.Event()
    async with database.engine.connect() as locker:
        await locker.exec_driver_sql("LOCK TABLE recipient IN ACCESS EXCLUSIVE MODE")
        task = asyncio.create_task(statistics.keep(stopping))
        statistics.request()
        await asyncio.sleep(0.5)
        assert not task.done()
        stopping.set()
        await asyncio.wait_for(task, 2)
        await locker.rollback()
    assert statistics.refreshed == 0
