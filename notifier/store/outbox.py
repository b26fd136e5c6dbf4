"""The outbox: turn an alert's audience into deliveries, claim them under a lease, record outcomes.

Claiming is the one place where replicas compete. On PostgreSQL the due rows are locked with
`FOR UPDATE SKIP LOCKED`; SQLite ignores row locks, so there the claim is a single conditional
`UPDATE … WHERE status = 'queued' … RETURNING`, which SQLite runs under its one writer lock.
Either way no delivery is handed to two workers while its lease holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Insert
from sqlalchemy.sql.selectable import ScalarSelect

from notifier.domain import OPEN_ALERT_STATUSES, AlertStatus, Channel, DeliveryStatus, Purpose
from notifier.store.tables import ALERT, DELIVERY, PERSON, PERSON_GROUP, RECIPIENT

QUEUED = DeliveryStatus.QUEUED.value
SENDING = DeliveryStatus.SENDING.value
UNSETTLED = (QUEUED, SENDING)
FIRST_BATCH = 100
ALERT_PURPOSE = Purpose.ALERT.value


@dataclass(frozen=True, slots=True)
class Materialised:
    """What one materialisation batch did."""

    recipients: int
    deliveries: int
    finished: bool


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker holds the lease on."""

    id: int
    alert_id: int
    person: int
    channel: Channel
    attempts: int
    round: int
    lease_until: datetime
    purpose: Purpose = Purpose.ALERT
    subject: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A message about an alert whose words are written when it is queued, not when sent.

    `round` numbers the notices of one purpose to one person about one alert, so that
    queuing the same one twice (a replayed reply, two replicas) queues it once.
    """

    alert_id: int
    person: int
    channel: Channel
    purpose: Purpose
    round: int
    body: str
    subject: str | None = None


def insert_ignoring_duplicates(session: AsyncSession, table: Table) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement: Insert = module.insert(table).on_conflict_do_nothing()
    return statement


async def alerts_to_materialise(session: AsyncSession) -> list[int]:
    """Alerts still being dispatched whose audience is not yet fully in the outbox."""
    query = (
        select(ALERT.c.id)
        .where(ALERT.c.status == AlertStatus.DISPATCHING.value, ALERT.c.materialised_at.is_(None))
        .order_by(ALERT.c.priority, ALERT.c.id)
    )
    return list((await session.execute(query)).scalars())


async def materialise_batch(
    session: AsyncSession, alert_id: int, batch_size: int, now: datetime
) -> Materialised:
    """Add the next `batch_size` people of the alert's audience, by person id, to the outbox.

    Resumable and safe to run from several replicas: the alert's cursor moves only by
    compare-and-set, and a batch that lost the race writes nothing.
    """
    alert = (await session.execute(select(ALERT).where(ALERT.c.id == alert_id))).one()
    if alert.status != AlertStatus.DISPATCHING.value or alert.materialised_at is not None:
        return Materialised(0, 0, True)
    if alert.materialise_cursor == 0:  # a small first batch: the first messages leave sooner
        batch_size = min(batch_size, FIRST_BATCH)
    people = (await session.execute(_audience_batch(alert, batch_size))).all()
    channels = [Channel(name) for name in alert.channels]
    recipients: list[dict[str, object]] = []
    deliveries: list[dict[str, object]] = []
    inactive = opted_out = 0
    for person in people:
        if not person.active:
            inactive += 1
            continue
        reachable, skipped_sms = _channels_for(person, channels)
        opted_out += skipped_sms
        if not reachable:
            continue
        recipients.append(
            {"alert_id": alert_id, "person": person.id, "station_code": person.station_code}
        )
        deliveries.extend(
            {
                "alert_id": alert_id,
                "person": person.id,
                "channel": channel.value,
                "round": 0,
                "status": QUEUED,
                "priority": alert.priority,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for channel in reachable
        )
    finished = len(people) < batch_size
    moved = await session.execute(
        update(ALERT)
        .where(
            ALERT.c.id == alert_id,
            ALERT.c.materialise_cursor == alert.materialise_cursor,
            ALERT.c.status == AlertStatus.DISPATCHING.value,
        )
        .values(
            materialise_cursor=people[-1].id if people else alert.materialise_cursor,
            skipped_inactive=ALERT.c.skipped_inactive + inactive,
            skipped_opted_out=ALERT.c.skipped_opted_out + opted_out,
            recipients=ALERT.c.recipients + len(recipients),
            materialised_at=now if finished else None,
        )
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return Materialised(0, 0, False)
    if recipients:
        await session.execute(insert_ignoring_duplicates(session, RECIPIENT), recipients)
        await session.execute(insert_ignoring_duplicates(session, DELIVERY), deliveries)
    return Materialised(len(recipients), len(deliveries), finished)


def audience_condition(audience: Mapping[str, list[str]]) -> ColumnElement[bool]:
    """Who an alert's audience names: people of its stations (in its groups, if any) and by id."""
    stations, groups, people = audience["stations"], audience["groups"], audience["people"]
    conditions: list[ColumnElement[bool]] = []
    if stations:
        conditions.append(PERSON.c.station_code.in_(stations))
        if groups:
            members = select(PERSON_GROUP.c.person).where(PERSON_GROUP.c.name.in_(groups))
            conditions[0] = and_(conditions[0], PERSON.c.id.in_(members))
    if people:
        conditions.append(PERSON.c.person_id.in_(people))
    return or_(*conditions)


def _audience_batch(alert: Any, batch_size: int) -> Any:
    c = PERSON.c
    return (
        select(c.id, c.station_code, c.phone, c.email, c.active, c.sms_opted_out)
        .where(c.id > alert.materialise_cursor, audience_condition(alert.audience))
        .order_by(c.id)
        .limit(batch_size)
    )


def _channels_for(person: Any, wanted: list[Channel]) -> tuple[list[Channel], int]:
    """The channels that reach this person, and 1 if an opted-out number was skipped.

    A person who cannot be reached on any channel the officer chose is reached on the
    other one, if they have it: for a life-safety message, reaching them matters more.
    """
    usable = {
        Channel.SMS: bool(person.phone) and not person.sms_opted_out,
        Channel.EMAIL: bool(person.email),
    }
    skipped = int(Channel.SMS in wanted and bool(person.phone) and person.sms_opted_out)
    chosen = [channel for channel in wanted if usable[channel]]
    if not chosen:
        chosen = [channel for channel in (Channel.SMS, Channel.EMAIL) if usable[channel]][:1]
    return chosen, skipped


async def claim(
    session: AsyncSession,
    channel: Channel,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due deliveries of one channel to `worker`, emergencies first."""
    due = (
        select(DELIVERY.c.id)
        .where(
            DELIVERY.c.status == QUEUED,
            DELIVERY.c.channel == channel.value,
            DELIVERY.c.next_attempt_at <= now,
        )
        .order_by(DELIVERY.c.priority, DELIVERY.c.next_attempt_at, DELIVERY.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # A CTE runs once. As a plain `IN (subquery)`, PostgreSQL may run the locking subquery
    # again for every row it updates, each time skipping the rows it has just updated, and
    # so claim far more than `limit` (measured: 60 rows for a limit of 7).
    chosen = due.cte("due")
    c = DELIVERY.c
    claimed = await session.execute(
        update(DELIVERY)
        .where(c.id.in_(select(chosen.c.id)), c.status == QUEUED)
        .values(
            status=SENDING, leased_by=worker, lease_expires_at=now + lease, attempts=c.attempts + 1
        )
        .returning(
            c.id, c.alert_id, c.person, c.channel, c.attempts, c.round, c.purpose, c.subject, c.body
        )
    )
    rows = sorted(claimed.all(), key=lambda row: row.id)
    return [
        ClaimedDelivery(
            r.id,
            r.alert_id,
            r.person,
            Channel(r.channel),
            r.attempts,
            r.round,
            now + lease,
            Purpose(r.purpose),
            r.subject,
            r.body,
        )
        for r in rows
    ]


async def mark_sent(
    session: AsyncSession, delivery_id: int, provider_id: str, now: datetime
) -> None:
    """The provider accepted the message: keep its id, whoever holds the lease now."""
    await mark_sent_many(session, [(delivery_id, provider_id)], now)


async def mark_sent_many(session: AsyncSession, sent: list[tuple[int, str]], now: datetime) -> None:
    """Record several accepted messages (delivery id, provider id) in one statement batch."""
    if not sent:
        return
    c = DELIVERY.c
    statement = (
        update(DELIVERY)
        # `IN` expands its parameters, which executemany refuses: spell the two states out.
        .where(c.id == bindparam("delivery_id"), or_(c.status == QUEUED, c.status == SENDING))
        .values(
            status=DeliveryStatus.SENT.value,
            provider_id=bindparam("accepted_as"),
            sent_at=now,
            lease_expires_at=None,  # leased_by stays: which worker sent it
            last_error=None,
        )
    )
    rows = [
        {"delivery_id": delivery_id, "accepted_as": provider_id}
        for delivery_id, provider_id in sent
    ]
    await session.execute(statement, rows)


async def mark_retry(
    session: AsyncSession, delivery_id: int, worker: str, at: datetime, error: str
) -> None:
    """Put the delivery back in the queue for another attempt at `at`."""
    await session.execute(
        update(DELIVERY)
        .where(
            DELIVERY.c.id == delivery_id,
            DELIVERY.c.leased_by == worker,
            DELIVERY.c.status == SENDING,
        )
        .values(
            status=QUEUED,
            next_attempt_at=at,
            leased_by=None,
            lease_expires_at=None,
            last_error=error[:1000],
        )
    )


async def mark_failed(
    session: AsyncSession, delivery: ClaimedDelivery, error: str, now: datetime
) -> bool:
    """Fail the delivery and queue the alert on the person's other channel; True if queued.

    A notice is not carried over: its words were written for the channel that failed.
    """
    await session.execute(
        update(DELIVERY)
        .where(DELIVERY.c.id == delivery.id, DELIVERY.c.status.in_(UNSETTLED))
        .values(
            status=DeliveryStatus.FAILED.value,
            failed_at=now,
            leased_by=None,
            lease_expires_at=None,
            last_error=error[:1000],
        )
    )
    if delivery.purpose is not Purpose.ALERT:
        return False
    return await fail_over(
        session, delivery.alert_id, delivery.person, delivery.channel, delivery.round, now
    )


async def fail_over(
    session: AsyncSession, alert_id: int, person: int, failed: Channel, round_: int, now: datetime
) -> bool:
    """Queue the alert for `person` on the channel other than `failed`, if they have it."""
    other = Channel.EMAIL if failed is Channel.SMS else Channel.SMS
    contact = (
        await session.execute(
            select(PERSON.c.phone, PERSON.c.email, PERSON.c.sms_opted_out).where(
                PERSON.c.id == person
            )
        )
    ).one()
    reachable = (
        bool(contact.email)
        if other is Channel.EMAIL
        else bool(contact.phone) and not contact.sms_opted_out
    )
    alert = (
        await session.execute(
            select(ALERT.c.status, ALERT.c.priority).where(ALERT.c.id == alert_id)
        )
    ).one()
    if not reachable or alert.status not in OPEN_ALERT_STATUSES:
        return False
    if not await queue_delivery(
        session, alert_id, person, other, now, round_=round_, priority=alert.priority
    ):
        return False
    await reopen(session, alert_id)
    return True


async def reopen(session: AsyncSession, alert_id: int) -> None:
    """A dispatched alert with deliveries queued again is dispatching until they settle."""
    await session.execute(
        update(ALERT)
        .where(ALERT.c.id == alert_id, ALERT.c.status == AlertStatus.DISPATCHED.value)
        .values(status=AlertStatus.DISPATCHING.value, dispatched_at=None)
    )


async def reclaim_expired(session: AsyncSession, now: datetime, max_attempts: int) -> int:
    """Return deliveries whose worker's lease ran out (a crashed replica) to the queue."""
    c = DELIVERY.c
    expired = (c.status == SENDING) & (c.lease_expires_at < now)
    await session.execute(
        update(DELIVERY)
        .where(expired, c.attempts >= max_attempts)
        .values(
            status=DeliveryStatus.FAILED.value,
            failed_at=now,
            leased_by=None,
            last_error="lease expired",
        )
    )
    requeued = await session.execute(
        update(DELIVERY)
        .where(expired)
        .values(
            status=QUEUED,
            next_attempt_at=now,
            leased_by=None,
            lease_expires_at=None,
            last_error="lease expired",
        )
    )
    return int(requeued.rowcount)  # type: ignore[attr-defined]


async def settle_alerts(session: AsyncSession, now: datetime) -> int:
    """Mark dispatched every fully materialised alert none of whose deliveries is pending."""
    pending = exists().where(
        DELIVERY.c.alert_id == ALERT.c.id,
        DELIVERY.c.purpose == ALERT_PURPOSE,
        DELIVERY.c.status.in_(UNSETTLED),
    )
    settled = await session.execute(
        update(ALERT)
        .where(
            ALERT.c.status == AlertStatus.DISPATCHING.value,
            ALERT.c.materialised_at.is_not(None),
            ~pending,
        )
        .values(status=AlertStatus.DISPATCHED.value, dispatched_at=now)
    )
    return int(settled.rowcount)  # type: ignore[attr-defined]


async def queue_depth(session: AsyncSession) -> dict[str, int]:
    """Queued deliveries per channel (due or not)."""
    query = (
        select(DELIVERY.c.channel, func.count())
        .where(DELIVERY.c.status == QUEUED)
        .group_by(DELIVERY.c.channel)
    )
    return {channel: int(count) for channel, count in (await session.execute(query)).all()}


async def alerts_for_sending(session: AsyncSession, alert_ids: list[int]) -> dict[int, Any]:
    """The alerts' rows (content, status, creation time) by id."""
    rows = await session.execute(select(ALERT).where(ALERT.c.id.in_(alert_ids)))
    return {row.id: row for row in rows.all()}


async def addressees(session: AsyncSession, people: list[int]) -> dict[int, Any]:
    """The people's contact details and language by id."""
    c = PERSON.c
    rows = await session.execute(select(c.id, c.phone, c.email, c.language).where(c.id.in_(people)))
    return {row.id: row for row in rows.all()}


async def with_several_open_alerts(session: AsyncSession, people: list[int]) -> set[int]:
    """Those of `people` who were sent more than one open alert: their SMS names the alert."""
    if not people:
        return set()
    query = (
        select(RECIPIENT.c.person)
        .join(ALERT, ALERT.c.id == RECIPIENT.c.alert_id)
        .where(
            RECIPIENT.c.person.in_(people),
            ALERT.c.status.in_(OPEN_ALERT_STATUSES),
        )
        .group_by(RECIPIENT.c.person)
        .having(func.count() > 1)
    )
    return set((await session.execute(query)).scalars())


async def queue_notice(session: AsyncSession, notice: Notice, now: datetime) -> bool:
    """Put a notice about an alert in the outbox, as urgent as the alert; False if there already."""
    priority = select(ALERT.c.priority).where(ALERT.c.id == notice.alert_id).scalar_subquery()
    return await queue_delivery(
        session,
        notice.alert_id,
        notice.person,
        notice.channel,
        now,
        round_=notice.round,
        priority=priority,
        purpose=notice.purpose,
        subject=notice.subject,
        body=notice.body,
    )


async def queue_delivery(
    session: AsyncSession,
    alert_id: int,
    person: int,
    channel: Channel,
    now: datetime,
    *,
    round_: int,
    priority: int | ScalarSelect[Any],
    purpose: Purpose = Purpose.ALERT,
    subject: str | None = None,
    body: str | None = None,
) -> bool:
    """Queue one delivery, due now; False if the same one (alert, person, channel, purpose,
    round) is in the outbox already."""
    inserted = await session.execute(
        insert_ignoring_duplicates(session, DELIVERY).values(
            alert_id=alert_id,
            person=person,
            channel=channel.value,
            purpose=purpose.value,
            round=round_,
            subject=subject,
            body=body,
            status=QUEUED,
            priority=priority,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return bool(inserted.rowcount == 1)  # type: ignore[attr-defined]


async def mark_cancelled(session: AsyncSession, delivery_id: int) -> None:
    """A claimed delivery of an alert cancelled meanwhile: never sent."""
    await session.execute(
        update(DELIVERY)
        .where(DELIVERY.c.id == delivery_id, DELIVERY.c.status.in_(UNSETTLED))
        .values(status=DeliveryStatus.CANCELLED.value, leased_by=None, lease_expires_at=None)
    )


PROVIDER_FINAL_STATES = {
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
}
"""Provider statuses that settle a sent message; the others (queued, sent, …) change nothing."""


async def record_provider_status(
    session: AsyncSession,
    channel: Channel,
    provider_id: str,
    status: str,
    detail: str,
    now: datetime,
) -> DeliveryStatus | None:
    """Move a sent delivery forward to delivered or failed; anything else changes nothing.

    Duplicated and out-of-order callbacks are harmless: only a delivery still `sent` moves,
    and only to a final state. A message the provider failed after accepting it is carried
    by the person's other channel.
    """
    target = PROVIDER_FINAL_STATES.get(status)
    if target is None:
        return None
    c = DELIVERY.c
    values: dict[str, Any] = {"status": target.value}
    if target is DeliveryStatus.DELIVERED:
        values["delivered_at"] = now
    else:
        values.update(failed_at=now, last_error=f"provider: {status} {detail}".strip())
    moved = await session.execute(
        update(DELIVERY)
        .where(
            c.channel == channel.value,
            c.provider_id == provider_id,
            c.status == DeliveryStatus.SENT.value,
        )
        .values(values)
        .returning(c.alert_id, c.person, c.round, c.purpose)
    )
    row = moved.first()
    if row is None:
        return None
    if target is DeliveryStatus.FAILED and row.purpose == ALERT_PURPOSE:
        await fail_over(session, row.alert_id, row.person, channel, row.round, now)
    return target
