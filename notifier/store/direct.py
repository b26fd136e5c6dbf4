"""A few asyncpg connections kept for PostgreSQL's hot path, without SQLAlchemy in between.

The statements that run for every message (`notifier.store.sending_postgres`) go straight to
asyncpg: no greenlet hop, no pool checkout with its ping, no `BEGIN` and `COMMIT` around a
statement that is a transaction by itself, and asyncpg prepares each statement once per
connection. The connections are the engine's own (its URL, its `connect_args`), each taken
from its pool and kept, and closed when the database is (never handed back: its settings are
the hot path's). One that fails in any way is closed and the next work takes a new one; one
found closed is reported as a `ConnectionResetError`, which the caller's `Outages.retry`
waits out like any other outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")

SIZE = 4
"""Connections at most: enough for the claims and records of both channels side by side."""


@dataclass(frozen=True, slots=True)
class _Kept:
    """A connection taken from the engine's pool, and the driver's connection under it."""

    pooled: AsyncConnection
    driver: asyncpg.Connection


class DirectConnections:
    """Up to `size` of the engine's connections, taken when first needed and then kept."""

    def __init__(self, engine: AsyncEngine, size: int = SIZE) -> None:
        self._engine = engine
        self._idle: list[_Kept] = []
        self._room = asyncio.Semaphore(size)
        self._closed = False

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`await work(connection)` on a connection of its own for the time it takes."""
        async with self._room:
            if self._closed:
                raise RuntimeError("the database's direct connections are closed")
            kept = self._idle.pop() if self._idle else await self._take()
            try:
                result = await work(kept.driver)
            except Exception as error:
                lost = kept.driver.is_closed()
                await _discard(kept)  # its state is unknown
                if lost:  # asyncpg says only "connection is closed": an outage, to wait out
                    raise ConnectionResetError(f"database connection lost: {error}") from error
                raise
            except BaseException:  # cancelled mid-query: the server may still be answering
                kept.driver.terminate()
                raise
            if self._closed:
                await _discard(kept)
            else:
                self._idle.append(kept)
            return result

    async def close(self) -> None:
        """Close every idle connection; work under way closes its own when it ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for kept in idle:  # not back to the pool: their settings are the hot path's
            await _discard(kept)

    async def _take(self) -> _Kept:
        pooled = await self._engine.connect()
        try:
            fairy = await pooled.get_raw_connection()
            driver = fairy.driver_connection
            assert isinstance(driver, asyncpg.Connection), "direct connections need asyncpg"
        except BaseException:
            await pooled.close()
            raise
        kept = _Kept(pooled, driver)
        try:
            # asyncpg prepares every statement; after five runs PostgreSQL may plan it once
            # for any parameters, and a claim planned without its channel, time and limit
            # sorted every queued delivery (measured: 112 ms a claim instead of 13 with
            # 20,000 queued). Each run is planned for its own parameters instead.
            await driver.execute("SET plan_cache_mode = force_custom_plan")
        except BaseException:
            await _discard(kept)
            raise
        return kept


async def _discard(kept: _Kept) -> None:
    """Close the driver's connection and give it back to the pool as invalid."""
    kept.driver.terminate()
    with contextlib.suppress(Exception):
        await kept.pooled.invalidate()
        await kept.pooled.close()
