"""Scheduled drill firings in the store: raised once each, missed beyond the grace, not paused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from notifier.access import Principal
from notifier.domain import AlertKind, Role
from notifier.drill_json import drill_json
from notifier.drill_request import parse_drill_request
from notifier.messages import SHIPPED_TEMPLATES, load_templates
from notifier.store import drills
from notifier.store.drill_firings import fire_due
from notifier.store.engine import Database
from notifier.store.tables import Alert, AuditEntry, DrillFiring
from tests.clock import HandClock
from tests.seeding import nairobi_people, seed

ADDED = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
GRACE = timedelta(minutes=60)
ADMIN = Principal("admin", Role.ADMIN)
TEMPLATES = load_templates(SHIPPED_TEMPLATES)


@pytest.fixture
async def seeded(database: Database) -> Database:
    """NBO with two wardens."""
    await seed(database, nairobi_people(2, groups="wardens"))
    return database


async def _add(database: Database, cron: str, name: str = "drill", **fields: object) -> None:
    request = parse_drill_request({"name": name, "stations": ["NBO"], "cron": cron} | fields)
    async with database.session() as session:
        await drills.add_drill(session, request, ADMIN, ADDED)


async def _fire(database: Database, clock: HandClock) -> list[int]:
    async with database.session() as session:
        return await fire_due(session, clock.now(), GRACE, TEMPLATES)


async def _listed(database: Database, clock: HandClock) -> dict[str, dict[str, object]]:
    async with database.session() as session:
        entries = await drills.list_drills(session, ADMIN, clock.now())
    return {entry.drill.name: drill_json(entry) for entry in entries}


async def _count(database: Database, model: type[Alert] | type[DrillFiring]) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _pause(database: Database, at: datetime, *, paused: bool) -> None:
    async with database.session() as session:
        await drills.set_paused(session, "drill", ADMIN, paused=paused, now=at)


async def test_every_minute_fires_once_a_minute(seeded: Database) -> None:
    """Called at each minute, a drill every minute raises one drill alert a minute, audited."""
    await _add(seeded, "* * * * *")
    clock = HandClock(ADDED)
    assert await _fire(seeded, clock) == []
    raised: list[int] = []
    for _ in range(3):
        clock.at += MINUTE
        fired = await _fire(seeded, clock)
        assert len(fired) == 1
        raised += fired
    async with seeded.session() as session:
        found = (await session.execute(select(Alert).order_by(col(Alert.id)))).scalars().all()
        audited = await session.scalar(
            select(func.count()).where(col(AuditEntry.action) == "drill.fire")
        )
    assert [alert.id for alert in found] == raised
    assert {(alert.kind, alert.created_by) for alert in found} == {
        (AlertKind.DRILL.value, "scheduler")
    }
    assert audited == 3
    assert (await _listed(seeded, clock))["drill"]["last_alert_id"] == raised[-1]


async def test_firing_twice_for_the_same_minute_raises_one_alert(seeded: Database) -> None:
    """A second call for a minute already fired raises nothing: the firing row holds its key."""
    await _add(seeded, "* * * * *")
    clock = HandClock(ADDED + MINUTE)
    assert len(await _fire(seeded, clock)) == 1
    assert await _fire(seeded, clock) == []
    assert await _count(seeded, Alert) == 1


async def test_two_schedulers_at_once_raise_one_alert(seeded: Database) -> None:
    """Two sessions firing the same minutes at the same time raise one alert: the three
    firings due are one drill, the latest (the two before it are counted missed)."""
    await _add(seeded, "* * * * *")
    clock = HandClock(ADDED + 3 * MINUTE)
    first, second = await asyncio.gather(_fire(seeded, clock), _fire(seeded, clock))
    assert sorted([len(first), len(second)]) == [0, 1]
    assert await _count(seeded, Alert) == 1
    assert await _count(seeded, DrillFiring) == 2  # the one raised, and the latest missed
    assert (await _listed(seeded, clock))["drill"]["missed"] == 2


async def test_firings_beyond_the_grace_are_counted_missed(seeded: Database) -> None:
    """Hourly, called at 11:30: 09:00 and 10:00 are missed and listed, 11:00 fires, once."""
    await _add(seeded, "0 * * * *")
    clock = HandClock(ADDED + timedelta(hours=3, minutes=30))
    assert len(await _fire(seeded, clock)) == 1
    assert await _fire(seeded, clock) == []
    listed = (await _listed(seeded, clock))["drill"]
    assert listed["missed"] == 2
    assert listed["last_alert_id"] is not None
    assert await _count(seeded, Alert) == 1


async def test_a_firing_inside_the_grace_fires(seeded: Database) -> None:
    """Hourly, called at 09:59: 09:00 is 59 minutes late, within the hour's grace, and fires."""
    await _add(seeded, "0 * * * *")
    clock = HandClock(ADDED + timedelta(hours=1, minutes=59))
    assert len(await _fire(seeded, clock)) == 1
    assert (await _listed(seeded, clock))["drill"]["missed"] == 0


async def test_paused_drills_do_not_fire_nor_miss(seeded: Database) -> None:
    """Paused, a drill raises nothing; resumed, the firings of the pause are not counted missed."""
    await _add(seeded, "0 * * * *")
    await _add(seeded, "0 * * * *", name="other")
    await _pause(seeded, ADDED, paused=True)
    clock = HandClock(ADDED + timedelta(hours=1, minutes=30))
    assert len(await _fire(seeded, clock)) == 1  # `other` only
    await _pause(seeded, ADDED + timedelta(hours=3, minutes=30), paused=False)
    clock.at = ADDED + timedelta(hours=4, minutes=30)
    assert len(await _fire(seeded, clock)) == 2  # 12:00 of both
    listed = await _listed(seeded, clock)
    assert (listed["drill"]["missed"], listed["other"]["missed"]) == (0, 2)


async def test_a_drill_that_cannot_be_raised_is_missed(seeded: Database) -> None:
    """A drill whose group has emptied counts its firing missed; the other drills still fire."""
    await _add(seeded, "0 * * * *", groups=["wardens"])
    await _add(seeded, "0 * * * *", name="other")
    await seed(seeded, nairobi_people(2))
    clock = HandClock(ADDED + timedelta(hours=1))
    assert len(await _fire(seeded, clock)) == 1
    listed = await _listed(seeded, clock)
    assert (listed["drill"]["missed"], listed["other"]["missed"]) == (1, 0)
    async with seeded.session() as session:
        failed = await session.scalar(
            select(func.count()).where(col(AuditEntry.action) == "drill.fail")
        )
    assert failed == 1
