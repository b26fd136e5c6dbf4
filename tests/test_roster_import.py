"""Importing rosters into the database: all or nothing, idempotent, dry runs, pruning."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from notifier.domain import Channel, Language
from notifier.errors import RosterError
from notifier.roster_import import import_roster, import_stations
from notifier.roster_plan import KnownPerson, differences
from notifier.rosters import PersonRecord
from notifier.store import people
from notifier.store.engine import Database
from notifier.store.tables import AuditEntry, Person, PersonGroup

WriteFile = Callable[..., Path]
HEADER = "person_id,name,email,phone,station,language,groups\n"
STATIONS = (
    "code,name,country,timezone,latitude,longitude\n"
    "NBO,United Nations Office at Nairobi,KE,Africa/Nairobi,-1.2341,36.8147\n"
    "GVA,United Nations Office at Geneva,CH,Europe/Zurich,46.2266,6.1405\n"
)
ROSTER = (
    HEADER
    + "P1,Wanjiru Kamau,wanjiru@example.org,0722 000 111,NBO,en,wardens;security-focal-points\n"
    + "P2,Hélène Dubois,helene@example.org,022 917 12 34,GVA,fr,\n"
    + "P3,أحمد منصور,ahmed@example.org,,NBO,ar,wardens\n"
)


async def _setup(database: Database, write_file: WriteFile) -> None:
    await import_stations(database, write_file("stations.csv", STATIONS), actor="test")


async def _count(database: Database, *where: object) -> int:
    async with database.session() as session:
        query = select(func.count()).select_from(Person)
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return int((await session.execute(query)).scalar_one())


async def test_import_writes_people_and_groups(database: Database, write_file: WriteFile) -> None:
    """A valid file adds each person with E.164 phone, language and groups, and an audit entry."""
    await _setup(database, write_file)
    plan = await import_roster(database, write_file("staff.csv", ROSTER), actor="test")
    assert (len(plan.added), len(plan.changed), len(plan.deactivated)) == (3, 0, 0)
    async with database.session() as session:
        entries = await people.list_people(session)
        actions = (await session.execute(select(col(AuditEntry.action)))).scalars().all()
    by_id = {entry.person_id: entry for entry in entries}
    assert by_id["P1"].phone == "+254722000111"
    assert by_id["P1"].groups == ("security-focal-points", "wardens")
    assert by_id["P2"].language == "fr"
    assert by_id["P3"].name == "أحمد منصور"
    assert "roster.import" in actions


async def test_reimport_changes_nothing(database: Database, write_file: WriteFile) -> None:
    """Importing the same file twice writes nothing the second time."""
    await _setup(database, write_file)
    path = write_file("staff.csv", ROSTER)
    await import_roster(database, path, actor="test")
    async with database.session() as session:
        stamps = (
            await session.execute(select(col(Person.person_id), col(Person.updated_at)))
        ).all()
    plan = await import_roster(database, path, actor="test")
    assert plan.is_empty
    assert plan.unchanged == 3
    async with database.session() as session:
        assert (
            await session.execute(select(col(Person.person_id), col(Person.updated_at)))
        ).all() == stamps


async def test_changes_are_detected_field_by_field(
    database: Database, write_file: WriteFile
) -> None:
    """A changed phone and a changed group list update the person, nothing else."""
    await _setup(database, write_file)
    await import_roster(database, write_file("staff.csv", ROSTER), actor="test")
    changed = ROSTER.replace("0722 000 111", "0733 000 222").replace(",ar,wardens", ",ar,")
    plan = await import_roster(database, write_file("staff2.csv", changed), actor="test")
    assert {change.record.person_id: change.fields for change in plan.changed} == {
        "P1": ("phone",),
        "P3": ("groups",),
    }
    async with database.session() as session:
        entries = {entry.person_id: entry for entry in await people.list_people(session)}
        memberships = (
            await session.execute(select(func.count()).select_from(PersonGroup))
        ).scalar()
    assert entries["P1"].phone == "+254733000222"
    assert entries["P3"].groups == ()
    assert memberships == 2


async def test_dry_run_writes_nothing(database: Database, write_file: WriteFile) -> None:
    """--dry-run reports what would be added but leaves the database as it was."""
    await _setup(database, write_file)
    plan = await import_roster(
        database, write_file("staff.csv", ROSTER), actor="test", dry_run=True
    )
    assert len(plan.added) == 3
    assert await _count(database) == 0


async def test_bad_file_writes_nothing(database: Database, write_file: WriteFile) -> None:
    """One bad row rejects the whole file: the good rows are not written either."""
    await _setup(database, write_file)
    bad = ROSTER + "P4,Bad Row,not-an-email,,NBO,en,\n"
    with pytest.raises(RosterError) as raised:
        await import_roster(database, write_file("staff.csv", bad), actor="test")
    assert str(raised.value.problems[0]).startswith("staff.csv:5: email:")
    assert await _count(database) == 0


async def test_prune_deactivates_only_the_files_stations(
    database: Database, write_file: WriteFile
) -> None:
    """--prune deactivates people of the file's stations who are absent; others stay active."""
    await _setup(database, write_file)
    await import_roster(database, write_file("staff.csv", ROSTER), actor="test")
    nairobi_only = (
        HEADER
        + "P1,Wanjiru Kamau,wanjiru@example.org,0722 000 111,NBO,en,wardens;security-focal-points\n"
    )
    path = write_file("nbo.csv", nairobi_only)
    without_prune = await import_roster(database, path, actor="test")
    assert without_prune.deactivated == []
    plan = await import_roster(database, path, actor="test", prune=True)
    assert [person.person_id for person in plan.deactivated] == ["P3"]
    assert await _count(database, col(Person.active).is_(False)) == 1
    async with database.session() as session:
        active = {entry.person_id for entry in await people.list_people(session)}
    assert active == {"P1", "P2"}  # P2 is at GVA, which the file does not cover
    again = await import_roster(database, write_file("staff.csv", ROSTER), actor="test")
    assert [change.fields for change in again.changed] == [("active",)]


async def test_moving_a_person_between_stations(database: Database, write_file: WriteFile) -> None:
    """A person_id that appears under another station moves there: one person, not two."""
    await _setup(database, write_file)
    await import_roster(database, write_file("staff.csv", ROSTER), actor="test")
    moved = HEADER + "P2,Hélène Dubois,helene@example.org,+41 22 917 12 34,NBO,fr,\n"
    plan = await import_roster(database, write_file("move.csv", moved), actor="test")
    assert plan.changed[0].fields == ("station",)
    async with database.session() as session:
        entries = await people.list_people(session, station="NBO")
    assert "P2" in {entry.person_id for entry in entries}
    assert await _count(database) == 3


async def test_station_import_is_idempotent(database: Database, write_file: WriteFile) -> None:
    """Stations upsert by code: a second import changes nothing, an edit changes one."""
    path = write_file("stations.csv", STATIONS)
    first = await import_stations(database, path, actor="test")
    second = await import_stations(database, path, actor="test")
    edited = await import_stations(
        database,
        write_file("s2.csv", STATIONS.replace("Europe/Zurich", "Europe/Paris")),
        actor="test",
    )
    assert (first.added, second.unchanged, edited.changed) == (2, 2, 1)


async def test_shipped_contacts_import(database: Database) -> None:
    """The stations and sample rosters shipped in contacts/ import cleanly into the database."""
    contacts = Path(__file__).parent.parent / "contacts"
    await import_stations(database, contacts / "stations.csv", actor="test")
    total = 0
    for roster in sorted(contacts.glob("roster-*")):
        total += len((await import_roster(database, roster, actor="test")).added)
    assert total == await _count(database) >= 100


WITH_CHANNELS = (
    HEADER.strip()
    + ",channels\n"
    + 'P1,Wanjiru Kamau,wanjiru@example.org,0722 000 111,NBO,en,,"WhatsApp, email"\n'
    + "P2,Hélène Dubois,helene@example.org,022 917 12 34,GVA,fr,,\n"
)


async def _stored_channels(database: Database) -> dict[str, str]:
    async with database.session() as session:
        rows = await session.execute(select(col(Person.person_id), col(Person.channels)))
        return {person_id: channels for person_id, channels in rows}


async def test_channels_are_written_normalised(database: Database, write_file: WriteFile) -> None:
    """The column's names are stored in order, joined by commas; an empty cell as ''."""
    await _setup(database, write_file)
    plan = await import_roster(database, write_file("staff.csv", WITH_CHANNELS), actor="test")
    assert len(plan.added) == 2
    assert await _stored_channels(database) == {"P1": "whatsapp,email", "P2": ""}
    async with database.session() as session:
        entries = {entry.person_id: entry for entry in await people.list_people(session)}
        known = await people.known_people(session)
    assert entries["P1"].channels == known["P1"].channels == ("whatsapp", "email")
    assert entries["P2"].channels == known["P2"].channels == ()


async def test_file_without_channels_keeps_them(database: Database, write_file: WriteFile) -> None:
    """Without the column, known people keep their channels, even when something else changes."""
    await _setup(database, write_file)
    await import_roster(database, write_file("staff.csv", WITH_CHANNELS), actor="test")
    plan = await import_roster(database, write_file("old.csv", ROSTER), actor="test")
    assert {change.record.person_id: change.fields for change in plan.changed} == {
        "P1": ("groups",)
    }
    assert [record.person_id for record in plan.added] == ["P3"]
    assert await _stored_channels(database) == {"P1": "whatsapp,email", "P2": "", "P3": ""}


async def test_file_with_channels_sets_and_resets_them(
    database: Database, write_file: WriteFile
) -> None:
    """With the column, each person's channels are set; an empty cell resets to the default."""
    await _setup(database, write_file)
    await import_roster(database, write_file("staff.csv", WITH_CHANNELS), actor="test")
    again = await import_roster(database, write_file("same.csv", WITH_CHANNELS), actor="test")
    assert again.is_empty
    edited = WITH_CHANNELS.replace('"WhatsApp, email"', "").replace("fr,,\n", 'fr,,"email,sms"\n')
    plan = await import_roster(database, write_file("edited.csv", edited), actor="test")
    assert {change.record.person_id: change.fields for change in plan.changed} == {
        "P1": ("channels",),
        "P2": ("channels",),
    }
    assert await _stored_channels(database) == {"P1": "", "P2": "email,sms"}


async def test_json_object_without_channels_keeps_them(
    database: Database, write_file: WriteFile
) -> None:
    """In JSON, an object without the key keeps the person's channels; with it, sets them."""
    await _setup(database, write_file)
    await import_roster(database, write_file("staff.csv", WITH_CHANNELS), actor="test")
    base = {"email": "wanjiru@example.org", "phone": "+254722000111", "station": "NBO"}
    people_json = [
        base | {"person_id": "P1", "name": "Wanjiru K."},
        {"person_id": "P2", "name": "Hélène Dubois", "email": "helene@example.org"}
        | {"phone": "+41229171234", "station": "GVA", "language": "fr", "channels": ["sms"]},
    ]
    path = write_file("staff.json", json.dumps(people_json))
    plan = await import_roster(database, path, actor="test")
    assert {change.record.person_id: change.fields for change in plan.changed} == {
        "P1": ("name",),
        "P2": ("channels",),
    }
    assert await _stored_channels(database) == {"P1": "whatsapp,email", "P2": "sms"}


def _known(channels: tuple[str, ...]) -> KnownPerson:
    return KnownPerson(1, "P1", "A", "a@example.org", None, "NBO", "en", (), channels, True)


def _record(channels: tuple[Channel, ...], *, given: bool) -> PersonRecord:
    return PersonRecord(
        "P1", "A", "a@example.org", None, "NBO", Language.EN, (), 2, channels, given
    )


@pytest.mark.parametrize(
    ("known", "channels", "given", "expected"),
    [
        (("whatsapp", "email"), (), False, ()),
        (("whatsapp", "email"), (), True, ("channels",)),
        (("whatsapp", "email"), (Channel.EMAIL, Channel.WHATSAPP), True, ("channels",)),
        (("whatsapp", "email"), (Channel.WHATSAPP, Channel.EMAIL), True, ()),
        ((), (Channel.SMS,), True, ("channels",)),
        ((), (), True, ()),
    ],
)
def test_plan_reports_channels_only_from_a_file_with_them(
    known: tuple[str, ...], channels: tuple[Channel, ...], given: bool, expected: tuple[str, ...]
) -> None:
    """A different list or order is a change when the file has the column, never without it."""
    assert differences(_known(known), _record(channels, given=given)) == expected
