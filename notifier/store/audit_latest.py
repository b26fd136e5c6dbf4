"""The latest entries of the audit log, newest first, for the console's page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.store.audit import AUDIT_LOG, LoggedAction


async def latest_entries(session: AsyncSession, limit: int) -> list[LoggedAction]:
    """At most `limit` entries, newest first (by `at`, then `id`)."""
    a = AUDIT_LOG.c
    query = (
        select(a.id, a.at, a.actor, a.source, a.action, a.target, a.details)
        .order_by(a.at.desc(), a.id.desc())
        .limit(limit)
    )
    return [
        LoggedAction(row.id, row.at, row.actor, row.source, row.action, row.target, row.details)
        for row in (await session.execute(query)).all()
    ]
