"""The audit log: one entry per action that changes what the system will do."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notifier.store.tables import AuditEntry


def record(session: AsyncSession, actor: str, action: str, target: str, **details: Any) -> None:
    """Add an audit entry to the session's transaction, so it commits with what it describes."""
    session.add(AuditEntry(actor=actor, action=action, target=target, details=details))
