"""A station's readiness read from the store, on SQLite and PostgreSQL: each level 0 to 5."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from notifier.access import Principal
from notifier.domain import Role
from notifier.errors import NotFoundError
from notifier.readiness import judge, window_start
from notifier.settings import Settings
from notifier.store.engine import Database
from notifier.store.readiness_data import station_facts, station_levels, station_report
from notifier.store.report_data import read_report
from notifier.store.tables import DELIVERY, PERSON, Alert, DrillFiring, DrillSchedule
from tests.readiness_station import (
    MONTHLY,
    NOW,
    add_schedule,
    answer_help,
    build,
    raise_drill,
    roster,
)
from tests.seeding import nairobi_people, seed

SETTINGS = Settings()
ADMIN = Principal("admin", Role.ADMIN)


@pytest.mark.parametrize("level", range(6))
async def test_station_sits_at_its_level(database: Database, level: int) -> None:
    """A station built for each level is judged at it, and every criterion it misses is named."""
    missed = await build(database, level)
    async with database.session(read_only=True) as session:
        report = await station_report(session, "NBO", ADMIN, SETTINGS, NOW)
    assert report.readiness.level == level
    assert {c.key for c in report.readiness.criteria if not c.met} == missed


@pytest.mark.parametrize("level", range(6))
async def test_list_gives_the_same_level(database: Database, level: int) -> None:
    """The stations' list, which reads only the latest drills' answers, judges the same level."""
    await build(database, level)
    async with database.session(read_only=True) as session:
        levels = await station_levels(session, ADMIN, SETTINGS, NOW)
    assert [(station.code, readiness.level) for station, readiness in levels] == [
        ("BEY", 0), ("BKK", 0), ("GVA", 0), ("NBO", level),
    ]  # fmt: skip
    assert [station.people for station, _ in levels] == [0, 0, 0, 10]


async def test_drill_figures_are_the_alert_reports(database: Database) -> None:
    """Each drill's acknowledged and p90 are the station's row of the alert's own report."""
    await seed(database, nairobi_people(30))
    answered = (0, 1, 2, 7, 11, 25, 30)
    ids = [
        await raise_drill(database, at, count)
        for at, count in zip(MONTHLY[-len(answered) :], answered, strict=True)
    ]
    async with database.session(read_only=True) as session:
        facts = await station_facts(
            session, ["NBO"], window_start(NOW, SETTINGS.readiness), NOW, "x"
        )
        for drill, alert_id in zip(facts["NBO"].drills, ids, strict=True):
            alert = await session.get(Alert, alert_id)
            assert alert is not None
            (row,) = (await read_report(session, alert, "USD")).by_station  # NBO alone
            assert (drill.alert_id, drill.recipients, drill.acknowledged, drill.p90) == (
                alert_id,
                row.recipients,
                row.acknowledged,
                row.p90,
            )
    assert [d.p90 for d in facts["NBO"].drills] == [None, 30, 60, 210, 300, 690, 810]
    percents = [d.acknowledged_percent for d in facts["NBO"].drills]
    assert percents == [0.0, 3.3, 6.7, 23.3, 36.7, 83.3, 100.0]


async def test_help_answer_never_listed_is_named(database: Database) -> None:
    """A "help" answer no focal points' list followed keeps the station below level 4."""
    await seed(database, roster(email_only=0, focal=True))
    await add_schedule(database)
    ids = [await raise_drill(database, at, 10) for at in MONTHLY]
    await answer_help(database, ids[-1], listed=False)
    async with database.session(read_only=True) as session:
        report = await station_report(session, "NBO", ADMIN, SETTINGS, NOW)
    assert report.readiness.level == 3
    (help_,) = [c for c in report.readiness.criteria if c.key == "help_reached_focal_point"]
    assert not help_.met
    assert help_.text.startswith('0 of 1 "help" answer(s)')


async def test_list_sent_before_the_answer_does_not_count(database: Database) -> None:
    """A focal points' list sent before the "help" answer did not carry it."""
    await seed(database, roster(email_only=0, focal=True))
    alert_id = await raise_drill(database, MONTHLY[-1], 10)
    await answer_help(database, alert_id, listed=True)
    async with database.session() as session:
        await session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.purpose == "escalation")
            .values(sent_at=MONTHLY[-1] + timedelta(minutes=4))
        )
    async with database.session(read_only=True) as session:
        facts = await station_facts(
            session, ["NBO"], window_start(NOW, SETTINGS.readiness), NOW, "x"
        )
    assert (facts["NBO"].help_answers, facts["NBO"].help_listed) == (1, 0)


async def test_costs_by_month(database: Database) -> None:
    """The station's sent messages are summed per month of `sent_at`, unpriced ones counted."""
    await seed(database, roster(email_only=0, focal=False))
    alert_id = await raise_drill(database, MONTHLY[-2], 0)
    async with database.session() as session:
        n0 = (
            await session.execute(select(PERSON.c.id).where(PERSON.c.person_id == "N00000"))
        ).scalar_one()
        await session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.alert_id == alert_id)
            .values(status="sent", sent_at=MONTHLY[-2], cost_micros=75_000)
        )
        await session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.alert_id == alert_id, DELIVERY.c.person == n0)
            .values(cost_micros=None, sent_at=MONTHLY[-1])
        )
    async with database.session(read_only=True) as session:
        report = await station_report(session, "NBO", ADMIN, SETTINGS, NOW)
    months = [(m.month, m.micros, m.messages, m.unpriced) for m in report.costs]
    assert months == [("2026-10", 18 * 75_000, 18, 0), ("2026-11", 0, 2, 2)]
    assert report.currency == SETTINGS.costs.currency


async def test_other_station_is_missing(database: Database) -> None:
    """An officer of GVA asking for NBO learns only that there is no such station."""
    await seed(database, roster(email_only=0, focal=False))
    officer = Principal("gva", Role.OFFICER, frozenset({"GVA"}))
    async with database.session(read_only=True) as session:
        with pytest.raises(NotFoundError):
            await station_report(session, "NBO", officer, SETTINGS, NOW)
        with pytest.raises(NotFoundError):
            await station_report(session, "XYZ", ADMIN, SETTINGS, NOW)
        levels = await station_levels(session, officer, SETTINGS, NOW)
    assert [station.code for station, _ in levels] == ["GVA"]


async def test_missed_firings_count(database: Database) -> None:
    """Missed firings recorded in the window count against monthly drills."""
    await seed(database, roster(email_only=0, focal=True))
    await add_schedule(database)
    for at in MONTHLY:
        await raise_drill(database, at, 10)

    async with database.session() as session:
        drill = (await session.execute(select(DrillSchedule))).scalar_one()
        assert drill.id is not None
        drill.missed = 2
        session.add(
            DrillFiring(
                drill_id=drill.id, scheduled_at=MONTHLY[-1] + timedelta(days=1), missed=True
            )
        )
    async with database.session(read_only=True) as session:
        report = await station_report(session, "NBO", ADMIN, SETTINGS, NOW)
    assert report.facts.missed_firings == 2
    (monthly,) = [c for c in report.readiness.criteria if c.key == "monthly"]
    assert not monthly.met
    assert judge(report.facts, SETTINGS.readiness, NOW).level == 2
