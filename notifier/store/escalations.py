"""The reads and writes of an escalation round: who is silent, who needs help, who is told."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import OPEN_ALERT_STATUSES, Channel, Language, ResponseKind
from notifier.store.outbox import ALERT_PURPOSE, queue_delivery
from notifier.store.responses import latest_texts
from notifier.store.tables import ALERT, DELIVERY, PERSON, PERSON_GROUP, RECIPIENT


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An open alert that may still escalate."""

    id: int
    title: str
    created_at: datetime
    escalate_at: datetime | None
    escalations: int


@dataclass(frozen=True, slots=True)
class Listed:
    """A recipient as an escalation round sees them."""

    person: int
    person_id: str
    name: str
    station: str
    phone: str | None
    email: str | None
    reachable: frozenset[Channel]
    latest_text: str | None = None
    """What they last wrote that read as neither safe nor help, if anything."""


@dataclass(frozen=True, slots=True)
class FocalPoint:
    """A member of a station's focal point group, with how to reach them."""

    person: int
    station: str
    language: Language
    phone: str | None
    email: str | None


async def escalating_alerts(session: AsyncSession, max_rounds: int) -> list[OpenAlert]:
    """Open, fully listed alerts with rounds left."""
    a = ALERT.c
    query = (
        select(a.id, a.title, a.created_at, a.escalate_at, a.escalations)
        .where(
            a.status.in_(OPEN_ALERT_STATUSES),
            a.materialised_at.is_not(None),
            a.escalations < max_rounds,
        )
        .order_by(a.id)
    )
    return [OpenAlert(*row) for row in await session.execute(query)]


async def take_round(session: AsyncSession, alert: OpenAlert, next_at: datetime) -> bool:
    """Claim the alert's next round (compare-and-set): only one replica runs it."""
    result = await session.execute(
        update(ALERT)
        .where(
            ALERT.c.id == alert.id,
            ALERT.c.escalations == alert.escalations,
            ALERT.c.status.in_(OPEN_ALERT_STATUSES),
        )
        .values(escalations=alert.escalations + 1, escalate_at=next_at)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def recipients_by_response(
    session: AsyncSession, alert_id: int, answered: ResponseKind | None
) -> list[Listed]:
    """The alert's recipients with no answer (None) or with that current answer, and the
    latest text of those who answered."""
    r, p = RECIPIENT.c, PERSON.c
    condition = r.response.is_(None) if answered is None else r.response == answered.value
    query = (
        select(p.id, p.person_id, p.name, r.station_code, p.phone, p.email, p.sms_opted_out)
        .join(PERSON, p.id == r.person)
        .where(r.alert_id == alert_id, condition, p.active.is_(True))
        .order_by(r.station_code, p.name, p.person_id)
    )
    rows = (await session.execute(query)).all()
    # Who has not answered has written nothing: an answer with nothing in it is not kept.
    texts = (
        {} if answered is None else await latest_texts(session, alert_id, [row.id for row in rows])
    )
    return [
        Listed(
            row.id,
            row.person_id,
            row.name,
            row.station_code,
            row.phone,
            row.email,
            frozenset(_reachable(row.phone, row.email, row.sms_opted_out)),
            texts.get(row.id),
        )
        for row in rows
    ]


def _reachable(phone: str | None, email: str | None, opted_out: bool) -> Iterable[Channel]:
    if phone and not opted_out:
        yield Channel.SMS
    if email:
        yield Channel.EMAIL


async def channels_tried(session: AsyncSession, alert_id: int) -> dict[int, set[Channel]]:
    """The channels the alert itself was sent or tried on, per person."""
    query = (
        select(DELIVERY.c.person, DELIVERY.c.channel)
        .where(DELIVERY.c.alert_id == alert_id, DELIVERY.c.purpose == ALERT_PURPOSE)
        .distinct()
    )
    tried: dict[int, set[Channel]] = {}
    for person, channel in await session.execute(query):
        tried.setdefault(person, set()).add(Channel(channel))
    return tried


async def queue_resend(
    session: AsyncSession,
    alert_id: int,
    person: int,
    channels: Iterable[Channel],
    round_: int,
    now: datetime,
) -> int:
    """Queue the alert again for a person as round `round_`; how many deliveries were new."""
    priority = select(ALERT.c.priority).where(ALERT.c.id == alert_id).scalar_subquery()
    queued = 0
    for channel in sorted(channels):
        new = await queue_delivery(
            session, alert_id, person, channel, now, round_=round_, priority=priority
        )
        queued += int(new)
    await session.execute(
        update(RECIPIENT)
        .where(and_(RECIPIENT.c.alert_id == alert_id, RECIPIENT.c.person == person))
        .values(escalations=round_, last_escalated_at=now)
    )
    return queued


async def focal_points(
    session: AsyncSession, group: str, stations: Iterable[str]
) -> list[FocalPoint]:
    """The active members of `group` at these stations."""
    p = PERSON.c
    query = (
        select(p.id, p.station_code, p.language, p.phone, p.email)
        .join(PERSON_GROUP, PERSON_GROUP.c.person == p.id)
        .where(
            PERSON_GROUP.c.name == group,
            p.station_code.in_(sorted(set(stations))),
            p.active.is_(True),
        )
        .order_by(p.station_code, p.id)
    )
    return [
        FocalPoint(row.id, row.station_code, Language(row.language), row.phone, row.email)
        for row in await session.execute(query)
    ]
