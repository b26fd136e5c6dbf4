"""The audit log: one entry per action that changes what the system will do, and reading it back.

An entry says who (`actor`), from where (`source`, see `notifier.sources`), what (`action`,
`target`, `details`) and when (`at`). It is added to the transaction of the change it
describes, so the two commit together or not at all.

The log is read oldest first, by (`at`, `id`), a page at a time after a cursor: a long log is
never loaded whole, and each page is a short read of its own (`stream_entries`), so an export
holds no transaction open while its reader is slow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.store.engine import Database
from notifier.store.tables import AuditEntry, metadata

AUDIT_LOG = metadata.tables[AuditEntry.__tablename__]
EXPORT_BATCH = 1000
"""Entries read in one query while exporting the log."""


def record(
    session: AsyncSession, actor: str, action: str, target: str, *, source: str, **details: Any
) -> None:
    """Add an audit entry to the session's transaction, so it commits with what it describes."""
    session.add(
        AuditEntry(actor=actor, source=source, action=action, target=target, details=details)
    )


@dataclass(frozen=True, slots=True)
class LoggedAction:
    """One entry of the audit log as it is read back."""

    id: int
    at: datetime
    actor: str
    source: str
    action: str
    target: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the log's order (`at`, then `id`): reading goes on after it."""

    at: datetime
    id: int


async def read_entries(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    after: Position | None = None,
    limit: int = EXPORT_BATCH,
) -> list[LoggedAction]:
    """At most `limit` entries, oldest first, made at `since` or later and after `after`."""
    query = (
        select(
            AUDIT_LOG.c.id,
            AUDIT_LOG.c.at,
            AUDIT_LOG.c.actor,
            AUDIT_LOG.c.source,
            AUDIT_LOG.c.action,
            AUDIT_LOG.c.target,
            AUDIT_LOG.c.details,
        )
        .order_by(AUDIT_LOG.c.at, AUDIT_LOG.c.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(AUDIT_LOG.c.at >= since)
    if after is not None:
        query = query.where(
            or_(
                AUDIT_LOG.c.at > after.at,
                and_(AUDIT_LOG.c.at == after.at, AUDIT_LOG.c.id > after.id),
            )
        )
    return [
        LoggedAction(row.id, row.at, row.actor, row.source, row.action, row.target, row.details)
        for row in (await session.execute(query)).all()
    ]


async def position_of(session: AsyncSession, entry_id: int) -> Position | None:
    """Where the entry `entry_id` stands in the log's order; None if there is no such entry."""
    query = select(AUDIT_LOG.c.at).where(AUDIT_LOG.c.id == entry_id)
    at: datetime | None = await session.scalar(query)
    return None if at is None else Position(at, entry_id)


async def stream_entries(
    database: Database, *, since: datetime | None = None, batch: int = EXPORT_BATCH
) -> AsyncIterator[list[LoggedAction]]:
    """The whole log from `since` on, oldest first, in batches each read in a session of its own."""
    after: Position | None = None
    while True:
        async with database.session(read_only=True) as session:
            entries = await read_entries(session, since=since, after=after, limit=batch)
        if entries:
            yield entries
        if len(entries) < batch:
            return
        after = Position(entries[-1].at, entries[-1].id)
