"""Drill schedules in the store: add, list, pause, resume, remove and run, with access and audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlmodel import col

from notifier.access import Principal
from notifier.domain import Role
from notifier.drill_json import drill_json
from notifier.drill_request import DrillRequest, parse_drill_request
from notifier.errors import FieldError, ForbiddenError, NotFoundError
from notifier.messages import SHIPPED_TEMPLATES, load_templates
from notifier.store import drills
from notifier.store.engine import Database
from notifier.store.tables import Alert, AuditEntry
from tests.seeding import nairobi_people, seed

NOW = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # a Friday
ADMIN = Principal("admin", Role.ADMIN)
NBO_OFFICER = Principal("nbo", Role.OFFICER, frozenset({"NBO"}))
GVA_OFFICER = Principal("gva", Role.OFFICER, frozenset({"GVA"}))
VIEWER = Principal("viewer", Role.VIEWER)
ROSTER = [
    *nairobi_people(2, groups="wardens"),
    "G00001,Hélène Dubois,helene@example.org,+41791234567,GVA,fr,",
]
TEMPLATES = load_templates(SHIPPED_TEMPLATES)


def monthly(**changes: object) -> DrillRequest:
    """The first-Monday drill of NBO, with `changes` to its fields."""
    fields: dict[str, object] = {"name": "monthly", "stations": ["NBO"], "cron": "0 10 1-7 * mon"}
    return parse_drill_request(fields | changes)


@pytest.fixture
async def seeded(database: Database) -> Database:
    """NBO (two wardens) and GVA (one person)."""
    await seed(database, ROSTER)
    return database


async def _add(database: Database, request: DrillRequest, principal: Principal = ADMIN) -> None:
    async with database.session() as session:
        await drills.add_drill(session, request, principal, NOW)


async def _list(database: Database, principal: Principal = ADMIN) -> list[dict[str, object]]:
    async with database.session() as session:
        return [drill_json(entry) for entry in await drills.list_drills(session, principal, NOW)]


async def _actions(database: Database) -> list[str]:
    async with database.session() as session:
        query = select(col(AuditEntry.action)).where(col(AuditEntry.action).startswith("drill."))
        return list((await session.execute(query.order_by(col(AuditEntry.id)))).scalars())


async def _version(database: Database) -> int:
    async with database.session() as session:
        return await drills.schedule_version(session)


async def test_add_and_list(seeded: Database) -> None:
    """An added drill lists with its next firing in the station's zone and UTC, and is audited."""
    await _add(seeded, monthly(groups=["wardens"], channels=["sms"]))
    assert await _list(seeded) == [
        {
            "name": "monthly",
            "stations": ["NBO"],
            "groups": ["wardens"],
            "channels": ["sms"],
            "cron": "0 10 1-7 * mon",
            "timezone": "Africa/Nairobi",
            "paused": False,
            "next_run": "2027-01-04T10:00:00+03:00",
            "next_run_utc": "2027-01-04T07:00:00+00:00",
            "last_alert_id": None,
            "missed": 0,
        }
    ]
    assert await _actions(seeded) == ["drill.add"]
    assert await _version(seeded) == 1


async def test_zone_is_required_when_the_stations_differ(seeded: Database) -> None:
    """Stations in two zones need --timezone, and the error names each station's zone."""
    with pytest.raises(FieldError, match="required: NBO is Africa/Nairobi, GVA is Europe/Zurich"):
        await _add(seeded, monthly(stations=["NBO", "GVA"]))
    await _add(seeded, monthly(stations=["NBO", "GVA"], timezone="Europe/Zurich"))
    [listed] = await _list(seeded)
    assert (listed["timezone"], listed["next_run"]) == (
        "Europe/Zurich",
        "2027-01-04T10:00:00+01:00",
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"stations": ["XYZ"]}, "stations", "unknown station"),
        ({"groups": ["drivers"]}, "groups", "no one at NBO is in: drivers"),
        ({"cron": "0 10 * *"}, "cron", "expected 5 fields"),
        ({"cron": "0 10 * * 9"}, "cron", "day of week '9'"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"name": "two words"}, "name", "expected 1 to 100"),
        ({"channels": ["fax"]}, "channels", "expected sms, email and/or voice"),
    ],
)
async def test_bad_requests_name_the_field(
    seeded: Database, changes: dict[str, object], field: str, message: str
) -> None:
    """A request the roster or the schedule rules refuse names its field; nothing is stored."""
    with pytest.raises(FieldError, match=message) as raised:
        await _add(seeded, monthly(**changes))
    assert raised.value.field == field
    assert await _list(seeded) == []


async def test_a_name_is_taken_once(seeded: Database) -> None:
    """A second drill of the same name is refused on `name`."""
    await _add(seeded, monthly())
    with pytest.raises(FieldError, match="already exists"):
        await _add(seeded, monthly(cron="0 9 * * 1"))


async def test_officers_manage_their_own_stations_only(seeded: Database) -> None:
    """An officer adds for their station; another station's drill is unknown to them."""
    await _add(seeded, monthly(), NBO_OFFICER)
    with pytest.raises(FieldError, match="unknown station"):
        await _add(seeded, monthly(name="other"), GVA_OFFICER)
    assert await _list(seeded, GVA_OFFICER) == []
    async with seeded.session() as session:
        for attempt in (
            drills.set_paused(session, "monthly", GVA_OFFICER, paused=True, now=NOW),
            drills.remove_drill(session, "monthly", GVA_OFFICER, NOW),
            drills.run_drill(session, "monthly", GVA_OFFICER, TEMPLATES),
        ):
            with pytest.raises(NotFoundError, match="drill 'monthly' does not exist"):
                await attempt
    assert [drill["name"] for drill in await _list(seeded, NBO_OFFICER)] == ["monthly"]


async def test_viewers_read_but_do_not_write(seeded: Database) -> None:
    """A viewer lists drills and is refused every change."""
    await _add(seeded, monthly())
    with pytest.raises(ForbiddenError):
        await _add(seeded, monthly(name="other"), VIEWER)
    async with seeded.session() as session:
        with pytest.raises(ForbiddenError):
            await drills.set_paused(session, "monthly", VIEWER, paused=True, now=NOW)
    assert [drill["name"] for drill in await _list(seeded, VIEWER)] == ["monthly"]


async def test_pause_and_resume(seeded: Database) -> None:
    """A paused drill has no next run; resumed, it has again; each change audited once."""
    await _add(seeded, monthly())
    async with seeded.session() as session:
        await drills.set_paused(session, "monthly", ADMIN, paused=True, now=NOW)
        await drills.set_paused(session, "monthly", ADMIN, paused=True, now=NOW)
    [listed] = await _list(seeded)
    assert (listed["paused"], listed["next_run"], listed["next_run_utc"]) == (True, None, None)
    async with seeded.session() as session:
        await drills.set_paused(session, "monthly", ADMIN, paused=False, now=NOW)
    [listed] = await _list(seeded)
    assert (listed["paused"], listed["next_run"]) == (False, "2027-01-04T10:00:00+03:00")
    assert await _actions(seeded) == ["drill.add", "drill.pause", "drill.resume"]
    assert await _version(seeded) == 3


async def test_run_raises_a_drill_alert_in_every_language(seeded: Database) -> None:
    """Running a drill without words raises a `drill` alert with the default text per language."""
    await _add(seeded, monthly(groups=["wardens"]))
    async with seeded.session() as session:
        alert = await drills.run_drill(session, "monthly", NBO_OFFICER, TEMPLATES)
    async with seeded.session() as session:
        stored = await session.get(Alert, alert.id)
        [entry] = await drills.list_drills(session, ADMIN, NOW)
    assert stored is not None
    assert (stored.kind, stored.title, stored.drill_id) == (
        "drill",
        "Scheduled drill",
        entry.drill.id,
    )
    assert stored.audience["groups"] == ["wardens"]
    assert stored.messages["fr"].startswith("Ceci est un exercice")
    assert set(stored.messages) == {"en", "fr", "es", "ru", "zh", "ar"}
    assert entry.drill.last_alert_id == alert.id
    assert await _actions(seeded) == ["drill.add", "drill.run"]


async def test_run_uses_the_drills_own_words(seeded: Database) -> None:
    """A drill's own title and message are sent as they are, in every language."""
    await _add(seeded, monthly(title="Evacuation drill", message="Go to the car park."))
    async with seeded.session() as session:
        alert = await drills.run_drill(session, "monthly", ADMIN, TEMPLATES)
    assert (alert.title, alert.message, alert.messages) == (
        "Evacuation drill",
        "Go to the car park.",
        {},
    )


async def test_remove_keeps_the_alerts(seeded: Database) -> None:
    """A removed drill is gone; the alert it raised stays, a drill no longer linked to it."""
    await _add(seeded, monthly())
    async with seeded.session() as session:
        alert = await drills.run_drill(session, "monthly", ADMIN, TEMPLATES)
    async with seeded.session() as session:
        await drills.remove_drill(session, "monthly", ADMIN, NOW)
    assert await _list(seeded) == []
    async with seeded.session() as session:
        stored = await session.get(Alert, alert.id)
        with pytest.raises(NotFoundError):
            await drills.get_drill(session, "monthly", ADMIN)
    assert stored is not None and (stored.kind, stored.drill_id) == ("drill", None)
    assert await _actions(seeded) == ["drill.add", "drill.run", "drill.remove"]
