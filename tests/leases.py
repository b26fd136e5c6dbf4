"""Leases in the tests: read the database's clock, and let leases run out on it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import literal, select, type_coerce, update

from notifier.store.engine import Database
from notifier.store.sending import database_now
from notifier.store.tables import DELIVERY
from notifier.store.types import UTCDateTime


async def database_clock(database: Database) -> datetime:
    """The database's current time, the clock leases are granted and compared on."""
    async with database.session(read_only=True) as session:
        now = database_now(session.get_bind().dialect.name)
        return (await session.execute(select(type_coerce(now, UTCDateTime())))).scalar_one()


async def end_leases(database: Database, delivery_ids: Collection[int]) -> None:
    """Let the leases of `delivery_ids` have ended a second ago on the database's clock, as
    waiting out their length would."""
    async with database.session() as session:
        ended = database_now(session.get_bind().dialect.name, ahead=literal(-1.0))
        await session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(sorted(delivery_ids)))
            .values(lease_expires_at=ended)
        )
