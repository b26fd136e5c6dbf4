"""What an alert's report needs from the store: its recipients, failed messages and costs.

One Core select of the recipients, read in batches as plain rows, each with the best state
its messages reached on each channel (a correlated subquery on the outbox's unique index),
so a report of 100,000 recipients holds no ORM object, and fetches no row, per message; and
one count of the failed messages per reason; one sum of the sent messages' segments and
prices per channel. The figures are computed by `notifier.reports`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.costs import MessageCosts
from notifier.domain import Channel, DeliveryStatus
from notifier.reports import CHANNELS, STATE_RANK, AlertReport, RecipientFacts, alert_report
from notifier.store.outbox import ALERT_PURPOSE
from notifier.store.tables import DELIVERY, PERSON, RECIPIENT, Alert

BATCH = 5000
"""Rows fetched from the database at a time."""


def _best_state(channel: str) -> ColumnElement[str | None]:
    """The best state (by `STATE_RANK`) of the recipient's messages of the alert on `channel`."""
    d = DELIVERY.c
    best_rank = (
        select(func.min(case(STATE_RANK, value=d.status, else_=len(STATE_RANK))))
        .where(
            d.alert_id == RECIPIENT.c.alert_id,
            d.person == RECIPIENT.c.person,
            d.channel == channel,
            d.purpose == ALERT_PURPOSE,
        )
        .scalar_subquery()
    )
    return case({rank: status for status, rank in STATE_RANK.items()}, value=best_rank)


async def recipient_facts(session: AsyncSession, alert_id: int) -> list[RecipientFacts]:
    """The alert's recipients by person_id, with their contacts, first answers and states."""
    r, p = RECIPIENT.c, PERSON.c
    query = (
        select(
            p.person_id,
            p.name,
            r.station_code,
            p.phone,
            p.email,
            r.response,
            r.first_response_at,
            *(_best_state(channel).label(f"{channel}_state") for channel in CHANNELS),
        )
        .join(PERSON, p.id == r.person)
        .where(r.alert_id == alert_id)
        .order_by(p.person_id)
        .execution_options(yield_per=BATCH)
    )
    facts: list[RecipientFacts] = []
    async for batch in (await session.stream(query)).partitions():
        facts.extend(
            RecipientFacts(person_id, name, station, phone, email, response, at, tuple(states))
            for person_id, name, station, phone, email, response, at, *states in batch
        )
    return facts


async def failed_messages(session: AsyncSession, alert_id: int) -> list[tuple[str | None, int]]:
    """The alert's failed messages (not the notices about it) counted by their last error."""
    d = DELIVERY.c
    query = (
        select(d.last_error, func.count())
        .where(
            d.alert_id == alert_id,
            d.purpose == ALERT_PURPOSE,
            d.status == DeliveryStatus.FAILED.value,
        )
        .group_by(d.last_error)
    )
    return [(reason, int(count)) for reason, count in (await session.execute(query)).all()]


async def message_costs(session: AsyncSession, alert_id: int, currency: str) -> MessageCosts:
    """What the alert's sent messages cost, the notices about it included, in `currency` (the
    configured one, which the prices were kept in); those sent unpriced are counted apart."""
    d = DELIVERY.c
    unpriced = func.count(case((d.cost_micros.is_(None), 1)))
    query = (
        select(d.channel, func.sum(d.segments), func.sum(d.cost_micros), unpriced)
        .where(d.alert_id == alert_id, d.sent_at.is_not(None))
        .group_by(d.channel)
    )
    rows = {channel: row for channel, *row in (await session.execute(query)).all()}
    sms_segments, sms_micros, sms_unpriced = rows.get(Channel.SMS.value, (0, 0, 0))
    _, email_micros, email_unpriced = rows.get(Channel.EMAIL.value, (0, 0, 0))
    _, whatsapp_micros, whatsapp_unpriced = rows.get(Channel.WHATSAPP.value, (0, 0, 0))
    _, voice_micros, _ = rows.get(Channel.VOICE.value, (0, 0, 0))  # priced when a call ends
    return MessageCosts(
        currency=currency,
        sms_segments=int(sms_segments or 0),
        sms_micros=int(sms_micros or 0),
        email_micros=int(email_micros or 0),
        unpriced=int(sms_unpriced) + int(email_unpriced) + int(whatsapp_unpriced),
        whatsapp_micros=int(whatsapp_micros or 0),
        voice_micros=int(voice_micros or 0),
    )


async def read_report(session: AsyncSession, alert: Alert, currency: str) -> AlertReport:
    """The report of `alert`, which the caller has already been allowed to read.

    Costs are shown in `currency` (the configured `costs.currency`).
    """
    assert alert.id is not None
    recipients = await recipient_facts(session, alert.id)
    failed = await failed_messages(session, alert.id)
    costs = await message_costs(session, alert.id, currency)
    return alert_report(alert.created_at, recipients, failed, costs)
