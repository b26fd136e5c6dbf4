"""What a station's messages cost: the prices stored with them, summed per month in one query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.readiness import MonthCost
from notifier.store.tables import DELIVERY, PERSON


async def monthly_costs(
    session: AsyncSession, code: str, start: datetime, now: datetime
) -> list[MonthCost]:
    """The messages to the station's people sent in [start, now], per month (UTC), oldest
    first: their summed `cost_micros`, and how many were sent without a price."""
    d, p = DELIVERY.c, PERSON.c
    if session.get_bind().dialect.name == "postgresql":
        month = func.to_char(func.timezone("UTC", d.sent_at), "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", d.sent_at)
    query = (
        select(
            month.label("month"),
            func.coalesce(func.sum(d.cost_micros), 0),
            func.count(),
            func.count() - func.count(d.cost_micros),
        )
        .join(PERSON, p.id == d.person)
        .where(p.station_code == code, d.sent_at >= start, d.sent_at <= now)
        .group_by(month)
        .order_by(month)
    )
    return [
        MonthCost(str(label), int(micros), int(messages), int(unpriced))
        for label, micros, messages, unpriced in await session.execute(query)
    ]
