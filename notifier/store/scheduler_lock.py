"""Which replica runs the drill scheduler: a PostgreSQL advisory lock on a connection of its own.

The lock is a session lock (`pg_try_advisory_lock`) taken on a connection opened for it alone,
outside the pool, so nothing else ever runs on it or hands it back. The server releases the lock
the moment that connection ends: when the holder stops, or dies without a word (SIGKILL, a
machine lost), its socket closes and the replicas that keep trying take it within their next
try. The connection is named `notifier drill scheduler WORKER` in `pg_stat_activity`, so an
operator (or a test) can see which replica holds it.

On SQLite there is one daemon per database file: the lock is always granted. Were two daemons
to share a file, each drill firing would still raise one alert (its row is unique).
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from sqlalchemy import NullPool, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.store.engine import Database, create_engine, is_sqlite

SCHEDULER_LOCK_KEY = 0x6E6F_7469_6672_6472  # "notifdr": the drill scheduler's lock, any database
APPLICATION_NAME = "notifier drill scheduler"


class SchedulerLock(Protocol):
    """Held by at most one replica at a time; lost when its holder's connection ends."""

    async def acquire(self) -> bool:
        """Try once to take the lock; whether this replica holds it now."""
        ...

    async def check(self) -> None:
        """Raise if the lock may have been lost (its connection broke); return if still held."""
        ...

    async def release(self) -> None:
        """Let the lock go, if held; it may be taken again after."""
        ...

    async def close(self) -> None:
        """Let the lock go for good."""
        ...


class OneProcessLock:
    """SQLite: the one daemon of the file runs the scheduler."""

    async def acquire(self) -> bool:
        return True

    async def check(self) -> None:
        return None

    async def release(self) -> None:
        return None

    async def close(self) -> None:
        return None


class AdvisoryLock:
    """PostgreSQL: `pg_try_advisory_lock` on a dedicated connection."""

    def __init__(self, database: Database, worker: str) -> None:
        url = database.engine.url.render_as_string(hide_password=False)
        self._engine: AsyncEngine = create_engine(url, poolclass=NullPool, pool_pre_ping=False)
        self._name = f"{APPLICATION_NAME} {worker}"[:63]
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._connection is not None:
            return True
        connection = await self._engine.connect()
        try:
            await connection.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": self._name}
            )
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEDULER_LOCK_KEY}
            )
            await connection.commit()
        except BaseException:
            await _close_quietly(connection)
            raise
        if not taken:
            await _close_quietly(connection)
            return False
        self._connection = connection
        return True

    async def check(self) -> None:
        connection = self._connection
        if connection is None:
            raise LookupError("the drill scheduler's lock is not held")
        try:
            await connection.execute(text("SELECT 1"))
            await connection.commit()
        except BaseException:
            self._connection = None
            await _close_quietly(connection)
            raise

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close_quietly(connection)  # ending the session releases its locks

    async def close(self) -> None:
        await self.release()
        await self._engine.dispose()


async def _close_quietly(connection: AsyncConnection) -> None:
    try:
        await connection.close()
    except Exception:  # a broken connection: the server has let its locks go already
        with contextlib.suppress(Exception):
            await connection.invalidate()


def scheduler_lock(database: Database, worker: str) -> SchedulerLock:
    """The lock that elects the replica running the scheduler, for this database."""
    if is_sqlite(database.engine):
        return OneProcessLock()
    return AdvisoryLock(database, worker)
