"""The most urgent alert messages not yet sent, by any replica: what the lanes hold back for.

An emergency goes out before the drill's next messages only if no replica sends a drill
message while any of the emergency's is still due or being sent elsewhere; each replica
knows only what it holds itself, so it asks the outbox. Only the alert messages themselves
count: an answer's confirmation is urgent, but a stream of them must not stop another
station's drill for as long as the replies come in. A message waiting for its retry counts
only once it is due again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import Channel, Purpose
from notifier.store.sending import QUEUED, SENDING
from notifier.store.tables import DELIVERY

_ALERT = Purpose.ALERT.value


async def most_urgent_unsent(session: AsyncSession, now: datetime) -> dict[Channel, int]:
    """For each channel with any, the priority of its most urgent alert message due by `now`
    or being sent; in one statement (each part by its partial index)."""
    channels = list(Channel)
    parts = [part for channel in channels for part in (_due(channel, now), _sending(channel))]
    row = (await session.execute(select(*parts))).one()
    found: dict[Channel, int] = {}
    for index, channel in enumerate(channels):
        priorities = [p for p in (row[2 * index], row[2 * index + 1]) if p is not None]
        if priorities:
            found[channel] = min(priorities)
    return found


def _due(channel: Channel, now: datetime) -> ScalarSelect[int]:
    d = DELIVERY.c
    return (
        select(d.priority)
        .where(
            d.status == QUEUED,
            d.channel == channel.value,
            d.next_attempt_at <= now,
            d.purpose == _ALERT,
        )
        .order_by(d.priority)
        .limit(1)
        .scalar_subquery()
    )


def _sending(channel: Channel) -> ScalarSelect[int]:
    d = DELIVERY.c
    return (
        select(func.min(d.priority))
        .where(d.status == SENDING, d.channel == channel.value, d.purpose == _ALERT)
        .scalar_subquery()
    )
