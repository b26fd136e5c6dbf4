"""Queries over stations and people: read the roster, apply an import plan in one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.roster_plan import Change, KnownPerson, RosterPlan, channel_names
from notifier.rosters import PersonRecord, StationRecord
from notifier.store.tables import PERSON, PERSON_GROUP, STATION, Station
from notifier.store.types import utc_now

_T = TypeVar("_T")
BATCH = 2_000
"""Rows a statement writes at once: well under the parameter limits of SQLite and asyncpg."""

_UPDATED = (
    "name",
    "email",
    "phone",
    "station_code",
    "language",
    "channels",
    "active",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class StationChanges:
    """How many stations an import added, changed, and left as they were."""

    added: int
    changed: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A person as `roster list` shows them."""

    person_id: str
    name: str
    email: str | None
    phone: str | None
    station: str
    language: str
    groups: tuple[str, ...]
    channels: tuple[str, ...]
    """In order of preference; empty: the default, SMS and e-mail."""
    active: bool


async def station_countries(session: AsyncSession) -> dict[str, str]:
    """Every station's code with its country, for reading national phone numbers."""
    rows = await session.execute(select(STATION.c.code, STATION.c.country))
    return dict(rows.all())


async def station_exists(session: AsyncSession, code: str) -> bool:
    """Whether a station with this code is known."""
    query = select(STATION.c.code).where(STATION.c.code == code)
    return (await session.execute(query)).first() is not None


async def upsert_stations(
    session: AsyncSession, records: Sequence[StationRecord]
) -> StationChanges:
    """Insert new stations and update those whose values changed."""
    known = {
        station.code: station for station in (await session.execute(select(Station))).scalars()
    }
    added = changed = 0
    now = utc_now()
    for record in records:
        station = known.get(record.code)
        if station is None:
            session.add(
                Station(
                    code=record.code,
                    name=record.name,
                    country=record.country,
                    timezone=record.timezone,
                    latitude=record.latitude,
                    longitude=record.longitude,
                )
            )
            added += 1
            continue
        values = {
            "name": record.name,
            "country": record.country,
            "timezone": record.timezone,
            "latitude": record.latitude,
            "longitude": record.longitude,
        }
        if any(getattr(station, key) != value for key, value in values.items()):
            station.sqlmodel_update(values | {"updated_at": now})
            changed += 1
    return StationChanges(added, changed, len(records) - added - changed)


_ROSTER_COLUMNS = tuple(
    PERSON.c[name]
    for name in (
        "id",
        "person_id",
        "name",
        "email",
        "phone",
        "station_code",
        "language",
        "channels",
        "active",
    )
)
"""A person as a roster shows them, in this order: the rows both readers below unpack."""


async def known_people(session: AsyncSession) -> dict[str, KnownPerson]:
    """Everyone the database knows, active or not, by person_id."""
    groups = await _groups_by_person(session)
    rows = await session.execute(select(*_ROSTER_COLUMNS))
    return {
        person_id: KnownPerson(
            pk,
            person_id,
            name,
            email,
            phone,
            station,
            language,
            tuple(groups[pk]),
            stored_channels(channels),
            active,
        )
        for pk, person_id, name, email, phone, station, language, channels, active in rows
    }


async def list_people(
    session: AsyncSession, *, station: str | None = None, include_inactive: bool = False
) -> list[RosterEntry]:
    """The roster by station then person_id, optionally of one station, with the inactive."""
    groups = await _groups_by_person(session)
    c = PERSON.c
    query = select(*_ROSTER_COLUMNS).order_by(c.station_code, c.person_id)
    if station is not None:
        query = query.where(c.station_code == station)
    if not include_inactive:
        query = query.where(c.active)
    rows = await session.execute(query)
    return [
        RosterEntry(
            person_id,
            name,
            email,
            phone,
            code,
            language,
            tuple(groups[pk]),
            stored_channels(channels),
            active,
        )
        for pk, person_id, name, email, phone, code, language, channels, active in rows
    ]


async def apply_plan(session: AsyncSession, plan: RosterPlan) -> None:
    """Write the plan: insert the added, update the changed, deactivate the pruned."""
    now = utc_now()
    new_ids: dict[str, int] = {}
    for records in _batches(plan.added):
        rows = [
            _person_values(record) | {"created_at": now, "updated_at": now} for record in records
        ]
        inserted = await session.execute(
            insert(PERSON).returning(PERSON.c.person_id, PERSON.c.id), rows
        )
        new_ids.update(inserted.all())
    update_person = (
        update(PERSON)
        .where(PERSON.c.id == bindparam("pk"))
        .values({name: bindparam(f"new_{name}") for name in _UPDATED})
    )
    for changes in _batches(plan.changed):
        rows = [_update_values(change, now) for change in changes]
        await session.execute(update_person, rows)
    regrouped = [change for change in plan.changed if "groups" in change.fields]
    for changes in _batches(regrouped):
        pks = [change.known.pk for change in changes]
        await session.execute(delete(PERSON_GROUP).where(PERSON_GROUP.c.person.in_(pks)))
    memberships = [(new_ids[record.person_id], record.groups) for record in plan.added]
    memberships += [(change.known.pk, change.record.groups) for change in regrouped]
    await _insert_groups(session, memberships)
    for leaving in _batches(plan.deactivated):
        pks = [person.pk for person in leaving]
        await session.execute(
            update(PERSON).where(PERSON.c.id.in_(pks)).values(active=False, updated_at=now)
        )


def _person_values(record: PersonRecord) -> dict[str, object]:
    return {
        "person_id": record.person_id,
        "name": record.name,
        "email": record.email,
        "phone": record.phone,
        "station_code": record.station,
        "language": record.language.value,
        "channels": ",".join(channel_names(record.channels)),
    }


def _update_values(change: Change, now: datetime) -> dict[str, object]:
    """The changed person's new values; their channels as they were when the file has none."""
    values = _person_values(change.record) | {"active": True, "updated_at": now}
    if not change.record.channels_given:
        values["channels"] = ",".join(change.known.channels)
    return {"pk": change.known.pk} | {f"new_{name}": values[name] for name in _UPDATED}


def stored_channels(stored: str) -> tuple[str, ...]:
    """The channel names of a person's stored `channels` (`whatsapp,email`; empty: default)."""
    return tuple(name for name in stored.split(",") if name)


async def _groups_by_person(session: AsyncSession) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = defaultdict(list)
    query = select(PERSON_GROUP.c.person, PERSON_GROUP.c.name).order_by(PERSON_GROUP.c.name)
    for pk, name in await session.execute(query):
        groups[pk].append(name)
    return groups


async def _insert_groups(
    session: AsyncSession, memberships: Iterable[tuple[int, tuple[str, ...]]]
) -> None:
    rows = [{"person": pk, "name": name} for pk, names in memberships for name in names]
    for batch in _batches(rows):
        await session.execute(insert(PERSON_GROUP), batch)


def _batches(items: Sequence[_T]) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]
