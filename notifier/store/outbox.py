"""The outbox: turn an alert's audience into deliveries, record outcomes, settle alerts.

Claiming due deliveries and recording sent ones, the statements run for every message, are
in `notifier.store.sending`; `claim` and `mark_sent` here run them in an async session.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Table, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Insert
from sqlalchemy.sql.selectable import ScalarSelect

from notifier.domain import (
    OPEN_ALERT_STATUSES,
    TEXTED,
    AlertStatus,
    Channel,
    DeliveryStatus,
    Purpose,
)
from notifier.store import sending
from notifier.store.sending import QUEUED, SENDING, ClaimedDelivery
from notifier.store.tables import ALERT, DELIVERY, PERSON

UNSETTLED = (QUEUED, SENDING)
ALERT_PURPOSE = Purpose.ALERT.value


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


def insert_ignoring_duplicates(bind: AsyncSession | Connection, table: Table) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` in the session's or connection's dialect."""
    dialect = bind.dialect.name if isinstance(bind, Connection) else bind.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement: Insert = module.insert(table).on_conflict_do_nothing()
    return statement


async def claim(
    session: AsyncSession,
    channel: Channel,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` deliveries of one channel due by `now` to `worker`, for `lease`
    on the database's clock (`sending.claim`)."""
    return await session.run_sync(
        lambda sync: sending.claim(sync.connection(), channel, limit, worker, now, lease)
    )


async def mark_sent(
    session: AsyncSession, delivery_id: int, provider_id: str, now: datetime
) -> None:
    """The provider accepted the message: keep its id, whoever holds the lease now."""
    await session.run_sync(
        lambda sync: sending.mark_sent(sync.connection(), [(delivery_id, provider_id)], now)
    )


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


async def give_back(session: AsyncSession, delivery_ids: Collection[int], worker: str) -> int:
    """Queue deliveries `worker` claimed and has not begun to send, as they were: the same due
    time, the attempt not counted. How many it still held."""
    if not delivery_ids:
        return 0
    c = DELIVERY.c
    given = await session.execute(
        update(DELIVERY)
        .where(c.id.in_(sorted(delivery_ids)), c.leased_by == worker, c.status == SENDING)
        .values(
            status=QUEUED,
            leased_by=None,
            lease_expires_at=None,
            attempts=c.attempts - 1,
        )
    )
    return int(given.rowcount)  # type: ignore[attr-defined]


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
    """Queue the alert for `person` on the next channel of `FAIL_OVER[failed]` that reaches
    them (an e-mail address; a phone, not opted out for SMS) and has not carried it yet."""
    contact = (
        await session.execute(
            select(PERSON.c.phone, PERSON.c.email, PERSON.c.sms_opted_out).where(
                PERSON.c.id == person
            )
        )
    ).one()
    reachable = {
        Channel.EMAIL: bool(contact.email),
        Channel.SMS: bool(contact.phone) and not contact.sms_opted_out,
        Channel.WHATSAPP: False,  # chosen in the roster, never a fail-over's
    }
    alert = (
        await session.execute(
            select(ALERT.c.status, ALERT.c.priority).where(ALERT.c.id == alert_id)
        )
    ).one()
    if alert.status not in OPEN_ALERT_STATUSES:
        return False
    for other in FAIL_OVER[failed]:
        if reachable[other] and await queue_delivery(
            session, alert_id, person, other, now, round_=round_, priority=alert.priority
        ):
            await reopen(session, alert_id)
            return True
    return False


FAIL_OVER: Final = {
    Channel.SMS: (Channel.EMAIL,),
    Channel.EMAIL: (Channel.SMS,),
    Channel.WHATSAPP: (Channel.SMS, Channel.EMAIL),
}
"""Where a message that failed for good goes next, in order: a WhatsApp message that could
not be delivered (no WhatsApp on that number) goes by SMS, else by e-mail."""


async def being_sent(session: AsyncSession, delivery_id: int) -> bool:
    """Whether the delivery is being sent: its provider may report on it (a failure, a busy
    line) before its acceptance is recorded."""
    status = await session.scalar(select(DELIVERY.c.status).where(DELIVERY.c.id == delivery_id))
    return status == SENDING


async def reopen(session: AsyncSession, alert_id: int) -> None:
    """A dispatched alert with deliveries queued again is dispatching until they settle."""
    await session.execute(
        update(ALERT)
        .where(ALERT.c.id == alert_id, ALERT.c.status == AlertStatus.DISPATCHED.value)
        .values(status=AlertStatus.DISPATCHING.value, dispatched_at=None)
    )


async def reclaim_expired(
    session: AsyncSession, now: datetime, max_attempts: int, held: Collection[int] = ()
) -> int:
    """Return deliveries whose worker's lease ran out (a crashed replica) to the queue.

    A lease has run out when the database's clock says so, as it was granted on that clock
    (`sending.database_now`): never by the caller's `now`, which is only the time written on
    what fails. A replica whose clock jumps an hour ahead so takes no live replica's
    deliveries, which would then be sent twice.

    `held` are deliveries the caller's own senders still hold, whatever their lease says: a
    message sent while the database was away, whose outcome is yet to be written. They stay
    as they are, or the caller would claim them again and send them twice.
    """
    c = DELIVERY.c
    dialect = session.get_bind().dialect.name
    expired = (c.status == SENDING) & (c.lease_expires_at < sending.database_now(dialect))
    if held:
        expired &= c.id.not_in(sorted(held))
    return await _requeue(session, expired, now, max_attempts, "lease expired")


async def reclaim_vanished(
    session: AsyncSession, keys: Collection[int], now: datetime, max_attempts: int
) -> int:
    """Return the deliveries of workers gone (`notifier.store.presence`) to the queue at once,
    whatever their leases say; `keys` are the `hashtext` of the gone workers' ids."""
    if not keys:
        return 0
    c = DELIVERY.c
    theirs = (c.status == SENDING) & func.hashtext(c.leased_by).in_(sorted(keys))
    return await _requeue(session, theirs, now, max_attempts, "replica gone")


async def _requeue(
    session: AsyncSession, which: ColumnElement[bool], now: datetime, max_attempts: int, why: str
) -> int:
    """Queue `which` deliveries again; those that have had their attempts fail. How many were
    queued. They keep the due time they were claimed at, so they are claimed again before
    the deliveries of their priority queued after them: a dead replica's people have waited
    longest, and must not wait behind the rest of a fan-out."""
    c = DELIVERY.c
    await session.execute(
        update(DELIVERY)
        .where(which, c.attempts >= max_attempts)
        .values(status=DeliveryStatus.FAILED.value, failed_at=now, leased_by=None, last_error=why)
    )
    requeued = await session.execute(
        update(DELIVERY)
        .where(which)
        .values(
            status=QUEUED,
            leased_by=None,
            lease_expires_at=None,
            last_error=why,
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


async def with_several_open_alerts(session: AsyncSession, people: list[int]) -> set[int]:
    """Those of `people` who were sent more than one open alert (`sending.several_open_alerts`)."""
    return await session.run_sync(
        lambda sync: sending.several_open_alerts(sync.connection(), people)
    )


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
    "read": DeliveryStatus.DELIVERED,  # WhatsApp's, after delivered (or for it, out of order)
}
"""Provider statuses that settle a sent message; the others (queued, sent, …) change nothing."""


async def record_provider_status(
    session: AsyncSession,
    channel: Channel,
    provider_id: str,
    status: str,
    detail: str,
    now: datetime,
    *,
    delivery_id: int | None = None,
) -> DeliveryStatus | None:
    """Move a sent delivery forward to delivered or failed; anything else changes nothing.

    Duplicated and out-of-order callbacks are harmless: only a delivery still `sent` moves,
    and only to a final state. A message the provider failed after accepting it is carried
    by the person's other channel. `delivery_id`, which the callback URL gives for messages
    sent by this version, finds the delivery by its key, and its provider id must match.
    Without it (a message sent before the upgrade that added it) the provider id alone is
    looked for, with no index: a scan of the outbox.
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
    carriers = TEXTED if channel in TEXTED else {channel}  # one callback URL for both
    which = [c.channel.in_([each.value for each in carriers]), c.provider_id == provider_id]
    if delivery_id is not None:
        which.append(c.id == delivery_id)
    moved = await session.execute(
        update(DELIVERY)
        .where(*which, c.status == DeliveryStatus.SENT.value)
        .values(values)
        .returning(c.alert_id, c.person, c.round, c.purpose, c.channel)
    )
    row = moved.first()
    if row is None:
        return None
    if target is DeliveryStatus.FAILED and row.purpose == ALERT_PURPOSE:
        failed = Channel(row.channel)
        await fail_over(session, row.alert_id, row.person, failed, row.round, now)
    return target
