"""What the polls of the CAP feeds remember: each feed's validators and failures, the entries
dealt with. Only the replica holding the feeds' lock writes here."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notifier.store.tables import CAP_FEED_ENTRY, CapFeedEntry, CapFeedState


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """How an entry was dealt with: `outcome` a short word (`draft`, `sent`, `known`,
    `ignored`, `outside`, `expired`, `refused`), `detail` why, and the alert it made."""

    outcome: str
    detail: str = ""
    alert_id: int | None = None


async def feed_state(session: AsyncSession, url: str) -> CapFeedState:
    """The state of the feed at `url`, a new one (flushed, with its id) on its first poll."""
    state = await find_feed_state(session, url)
    if state is None:
        state = CapFeedState(key=_key(url), url=url)
        session.add(state)
        await session.flush()
    return state


async def find_feed_state(session: AsyncSession, url: str) -> CapFeedState | None:
    """The state of the feed at `url`, if it was ever polled."""
    query = select(CapFeedState).where(col(CapFeedState.key) == _key(url))
    return (await session.execute(query)).scalar_one_or_none()


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


async def known_entries(session: AsyncSession, feed_id: int, keys: Collection[str]) -> set[str]:
    """Which of `keys` are of entries of the feed dealt with before."""
    if not keys:
        return set()
    query = select(CAP_FEED_ENTRY.c.key).where(
        CAP_FEED_ENTRY.c.feed_id == feed_id, CAP_FEED_ENTRY.c.key.in_(list(keys))
    )
    return set((await session.execute(query)).scalars())


async def record_entry(
    session: AsyncSession,
    feed_id: int,
    key: str,
    label: str,
    outcome: EntryOutcome,
    now: datetime,
) -> None:
    """Remember that the entry `key` of the feed was dealt with, and how."""
    session.add(
        CapFeedEntry(
            feed_id=feed_id,
            key=key,
            entry=label,
            outcome=outcome.outcome,
            detail=outcome.detail,
            alert_id=outcome.alert_id,
            seen_at=now,
        )
    )
    await session.flush()


async def recent_entries(session: AsyncSession, feed_id: int, limit: int) -> list[CapFeedEntry]:
    """The entries of the feed dealt with last, the latest first."""
    query = (
        select(CapFeedEntry)
        .where(col(CapFeedEntry.feed_id) == feed_id)
        .order_by(col(CapFeedEntry.id).desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
