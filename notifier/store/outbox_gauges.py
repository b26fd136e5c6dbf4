"""What `/metrics` tells of the outbox, each from an index rather than a scan of every delivery.

The delivery table keeps every message ever sent, so counting it whole grows with the
organisation's history. The queue depth counts queued deliveries through the outbox's partial
index (`ix_delivery_due`); the states of the deliveries of open alerts come through the open
alerts (`ix_alert_status_created`) and each one's counts (`ix_delivery_alert_counts`).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import OPEN_ALERT_STATUSES, DeliveryStatus
from notifier.store.tables import ALERT, DELIVERY

QUEUE_DEPTH = (
    select(DELIVERY.c.channel, func.count())
    .where(DELIVERY.c.status == DeliveryStatus.QUEUED.value)
    .group_by(DELIVERY.c.channel)
)
"""Queued deliveries per channel, due or not, of any alert."""

OPEN_ALERT_DELIVERIES = (
    select(DELIVERY.c.channel, DELIVERY.c.status, func.count())
    .select_from(ALERT)
    .join(DELIVERY, DELIVERY.c.alert_id == ALERT.c.id)
    .where(ALERT.c.status.in_(OPEN_ALERT_STATUSES))
    .group_by(DELIVERY.c.channel, DELIVERY.c.status)
)
"""The deliveries of the alerts still open, per channel and state."""


async def queue_depth(session: AsyncSession) -> dict[str, int]:
    """Queued deliveries per channel (due or not)."""
    rows = (await session.execute(QUEUE_DEPTH)).all()
    return {channel: int(count) for channel, count in rows}


async def open_alert_deliveries(session: AsyncSession) -> dict[tuple[str, str], int]:
    """The deliveries of open alerts per (channel, state); combinations with none are absent."""
    rows = (await session.execute(OPEN_ALERT_DELIVERIES)).all()
    return {(channel, status): int(count) for channel, status, count in rows}
