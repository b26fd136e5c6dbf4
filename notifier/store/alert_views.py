"""Read models of an alert for officers: counts per channel and state, responses, recipients."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import AlertStatus, Channel, DeliveryStatus, ResponseKind
from notifier.reports import nearest_rank
from notifier.store.materialisation import audience_condition, carrying, fallback_condition
from notifier.store.outbox import ALERT_PURPOSE
from notifier.store.responses import latest_texts
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT, Alert

CHANNEL_STATES = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
)


@dataclass(frozen=True, slots=True)
class AlertCounts:
    """How far an alert has got."""

    recipients: int
    acknowledged: int
    responses: dict[str, int]
    channels: dict[str, dict[str, int]]
    skipped_inactive: int = 0
    skipped_opted_out: int = 0
    time_to_acknowledge: TimeToAcknowledge | None = None
    fallback: dict[str, int] = field(default_factory=dict)
    """Per channel not chosen: people it carries the alert to as none of the chosen reaches them."""

    @property
    def not_answered(self) -> int:
        """Recipients with no answer yet."""
        return max(0, self.recipients - self.acknowledged)


@dataclass(frozen=True, slots=True)
class TimeToAcknowledge:
    """Seconds from the alert to people's first answers: the median and the 90th percentile."""

    median_seconds: float
    p90_seconds: float


@dataclass(frozen=True, slots=True)
class RecipientRow:
    """One person an alert reached, with their answer and each channel's state.

    `latest_text` is what the person last wrote that said more than safe or help
    ("my leg is broken"), for an officer to read; None when they wrote nothing such.
    """

    person_id: str
    name: str
    station: str
    phone: str | None
    response: str | None
    acknowledged_at: str | None
    channels: dict[str, str] = field(default_factory=dict)
    latest_text: str | None = None


async def alert_counts(session: AsyncSession, alert: Alert) -> AlertCounts:
    """Deliveries per channel and state, responses per kind, acknowledgements."""
    channels = {channel.value: dict.fromkeys(CHANNEL_STATES, 0) for channel in Channel}
    query = (
        select(DELIVERY.c.channel, DELIVERY.c.status, func.count())
        .where(DELIVERY.c.alert_id == alert.id, DELIVERY.c.purpose == ALERT_PURPOSE)
        .group_by(DELIVERY.c.channel, DELIVERY.c.status)
    )
    for channel, status, count in (await session.execute(query)).all():
        channels.setdefault(channel, dict.fromkeys(CHANNEL_STATES, 0))[status] = int(count)
    responses = {kind.value: 0 for kind in ResponseKind}
    query = (
        select(RECIPIENT.c.response, func.count())
        .where(RECIPIENT.c.alert_id == alert.id, RECIPIENT.c.response.is_not(None))
        .group_by(RECIPIENT.c.response)
    )
    for response, count in (await session.execute(query)).all():
        responses[response] = int(count)
    return AlertCounts(
        recipients=alert.recipients,
        acknowledged=sum(responses.values()),
        responses=responses,
        channels={
            name: {str(k): v for k, v in states.items()} for name, states in channels.items()
        },
        skipped_inactive=alert.skipped_inactive,
        skipped_opted_out=alert.skipped_opted_out,
        time_to_acknowledge=await time_to_acknowledge(session, alert),
        fallback=await fallback_counts(session, alert),
    )


async def fallback_counts(session: AsyncSession, alert: Alert) -> dict[str, int]:
    """For each channel the officer did not choose, how many people it carries the alert to
    because no chosen channel reaches them (no phone for SMS, no address for e-mail).

    While the audience is still being listed, counted from the roster, like `audience_size`;
    then from the outbox: people whose first messages went only on channels not chosen. A
    fail-over after a failed send is not counted: the chosen channel was tried first.
    """
    wanted = {Channel(name) for name in alert.channels}
    others = [channel for channel in Channel if channel not in carrying(wanted)]
    listing = alert.materialised_at is None and alert.status == AlertStatus.DISPATCHING.value
    counts: dict[str, int] = {}
    for channel in others:
        if listing:
            query = (
                select(func.count())
                .select_from(PERSON)
                .where(
                    PERSON.c.active,
                    audience_condition(alert.audience),
                    fallback_condition(wanted, channel),
                )
            )
        else:
            query = _fallback_in_outbox(alert, wanted, channel)
        counts[channel.value] = int((await session.execute(query)).scalar_one())
    return counts


def _fallback_in_outbox(alert: Alert, wanted: set[Channel], channel: Channel) -> Select[Any]:
    """People with a first-round message on `channel` and none on a chosen channel."""
    d = DELIVERY.c
    first_round = and_(d.alert_id == alert.id, d.round == 0, d.purpose == ALERT_PURPOSE)
    chosen = DELIVERY.alias("chosen")
    on_chosen = (
        select(chosen.c.id)
        .where(
            chosen.c.alert_id == alert.id,
            chosen.c.person == d.person,
            chosen.c.round == 0,
            chosen.c.purpose == ALERT_PURPOSE,
            chosen.c.channel.in_([name.value for name in wanted]),
        )
        .exists()
    )
    return select(func.count(func.distinct(d.person))).where(
        first_round, d.channel == channel.value, ~on_chosen
    )


async def time_to_acknowledge(session: AsyncSession, alert: Alert) -> TimeToAcknowledge | None:
    """The median and 90th percentile of the time to the first answer; None before any.

    Nearest-rank percentiles (`reports.nearest_rank`, as in the alert's report), read by
    offset from the ordered first answers, so that only two rows come back whatever the
    number of recipients.
    """
    answered = (RECIPIENT.c.alert_id == alert.id) & RECIPIENT.c.first_response_at.is_not(None)
    count = await session.scalar(select(func.count()).select_from(RECIPIENT).where(answered))
    if not count:
        return None

    async def at_rank(fraction: float) -> float:
        rank = nearest_rank(fraction, count)
        query = (
            select(RECIPIENT.c.first_response_at)
            .where(answered)
            .order_by(RECIPIENT.c.first_response_at)
            .offset(rank - 1)
            .limit(1)
        )
        moment: datetime = (await session.execute(query)).scalar_one()
        return max(0.0, float((moment - alert.created_at).total_seconds()))

    return TimeToAcknowledge(median_seconds=await at_rank(0.5), p90_seconds=await at_rank(0.9))


async def recipients(
    session: AsyncSession,
    alert_id: int,
    *,
    acknowledged: bool | None = None,
    station: str | None = None,
    response: ResponseKind | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[RecipientRow]:
    """The alert's recipients by person_id; only (un)acknowledged, one station's, one answer's.

    `response` filters on the current answer: someone who needs help and then wrote
    something else is listed under help.
    """
    r, p = RECIPIENT.c, PERSON.c
    query = (
        select(
            r.person, p.person_id, p.name, p.phone, r.station_code, r.response, r.first_response_at
        )
        .join(PERSON, p.id == r.person)
        .where(r.alert_id == alert_id)
        .order_by(p.person_id)
        .limit(limit)
        .offset(offset)
    )
    if acknowledged is not None:
        query = query.where(
            r.first_response_at.is_not(None) if acknowledged else r.first_response_at.is_(None)
        )
    if station:
        query = query.where(r.station_code == station)
    if response is not None:
        query = query.where(r.response == response.value)
    rows = (await session.execute(query)).all()
    people = [row.person for row in rows]
    states = await _channel_states(session, alert_id, people)
    texts = await latest_texts(session, alert_id, people)
    return [
        RecipientRow(
            person_id=row.person_id,
            name=row.name,
            station=row.station_code,
            phone=row.phone,
            response=row.response,
            acknowledged_at=row.first_response_at.isoformat() if row.first_response_at else None,
            channels=states.get(row.person, {}),
            latest_text=texts.get(row.person),
        )
        for row in rows
    ]


async def _channel_states(
    session: AsyncSession, alert_id: int, people: list[int]
) -> dict[int, dict[str, str]]:
    """The state of each person's latest delivery on each channel."""
    if not people:
        return {}
    d = DELIVERY.c
    query = (
        select(d.person, d.channel, d.status)
        .where(d.alert_id == alert_id, d.person.in_(people), d.purpose == ALERT_PURPOSE)
        .order_by(d.person, d.channel, d.round)
    )
    states: dict[int, dict[str, str]] = defaultdict(dict)
    for person, channel, status in (await session.execute(query)).all():
        states[person][channel] = status  # later rounds overwrite earlier ones
    return states


async def audience_size(session: AsyncSession, alert_id: int) -> int:
    """How many active people the alert's audience names (known before materialisation ends)."""
    audience = (
        await session.execute(select(ALERT.c.audience).where(ALERT.c.id == alert_id))
    ).scalar_one()
    query = (
        select(func.count())
        .select_from(PERSON)
        .where(PERSON.c.active, audience_condition(audience))
    )
    return int((await session.execute(query)).scalar_one())
