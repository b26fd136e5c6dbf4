"""Answers per kind for many alerts at once: the live figures of the console's alert list."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import ResponseKind
from notifier.store.tables import RECIPIENT


async def answers_by_alert(
    session: AsyncSession, alert_ids: Collection[int]
) -> dict[int, dict[str, int]]:
    """For each alert of `alert_ids`, its recipients' answers per kind (0 for kinds not given)."""
    counts = {alert_id: {kind.value: 0 for kind in ResponseKind} for alert_id in alert_ids}
    if not counts:
        return counts
    query = (
        select(RECIPIENT.c.alert_id, RECIPIENT.c.response, func.count())
        .where(RECIPIENT.c.alert_id.in_(list(counts)), RECIPIENT.c.response.is_not(None))
        .group_by(RECIPIENT.c.alert_id, RECIPIENT.c.response)
    )
    for alert_id, response, count in (await session.execute(query)).all():
        counts[alert_id][response] = int(count)
    return counts
