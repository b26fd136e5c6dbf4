"""One station's active people for the console: a bounded page of them, and those hard to reach."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.store.people import stored_channels
from notifier.store.tables import PERSON


@dataclass(frozen=True, slots=True)
class StationPerson:
    """A person as the station's page lists them."""

    person_id: str
    name: str
    email: str | None
    phone: str | None
    sms_opted_out: bool
    channels: tuple[str, ...]
    """Their channels from the roster, in order of preference; empty: SMS and e-mail."""

    @property
    def has_phone(self) -> bool:
        """Whether a phone number is on file."""
        return bool(self.phone)

    @property
    def has_email(self) -> bool:
        """Whether an e-mail address is on file."""
        return bool(self.email)


@dataclass(frozen=True, slots=True)
class StationPeople:
    """The first `limit` active people of a station by person_id, and how many there are; the
    first `limit` of those without a phone, without an e-mail address or opted out of SMS."""

    people: tuple[StationPerson, ...]
    total: int
    hard_to_reach: tuple[StationPerson, ...]
    hard_to_reach_total: int


async def station_people(session: AsyncSession, code: str, limit: int) -> StationPeople:
    """The station's active people, at most `limit` of each list, with the full counts.

    The caller checks first that the principal may read the station.
    """
    p = PERSON.c
    active = (p.station_code == code, p.active.is_(True))
    lacking = or_(
        p.phone.is_(None), p.phone == "", p.email.is_(None), p.email == "", p.sms_opted_out
    )
    people = await _people(session, [*active], limit)
    hard = await _people(session, [*active, lacking], limit)
    total = await session.scalar(select(func.count()).select_from(PERSON).where(*active))
    hard_total = await session.scalar(
        select(func.count()).select_from(PERSON).where(*active, lacking)
    )
    return StationPeople(people, int(total or 0), hard, int(hard_total or 0))


async def _people(
    session: AsyncSession, where: list[ColumnElement[bool]], limit: int
) -> tuple[StationPerson, ...]:
    p = PERSON.c
    query = (
        select(p.person_id, p.name, p.email, p.phone, p.sms_opted_out, p.channels)
        .where(*where)
        .order_by(p.person_id)
        .limit(limit)
    )
    return tuple(
        StationPerson(person_id, name, email, phone, opted_out, stored_channels(channels))
        for person_id, name, email, phone, opted_out, channels in await session.execute(query)
    )
