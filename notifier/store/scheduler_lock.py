"""Which replica runs the drill scheduler: a PostgreSQL advisory lock on a connection of its own.

The lock is a session lock (`pg_try_advisory_lock`) on a connection taken from the pool and
kept for it alone while held, so nothing else runs on it; it is closed, never handed back to
the pool, when the lock is let go. The server releases the lock the moment that connection
ends: when the holder stops, or dies without a word (SIGKILL, a machine lost), its socket
closes and the replicas that keep trying take it within their next try. A connection whose
network went silent is different: the holder gives it up (`notifier.store.dead_connections`),
but the server keeps its session, and the lock, until its own keepalives give up. So a
holder taking its lock again first ends that session of its own, found by its server
process's id and its name, as PostgreSQL lets a role end its own sessions. The lock is named
after the schema the notifier's tables are in, so installations sharing a database in
schemas of their own have a scheduler each. The connection is named
`notifier drill scheduler WORKER` in `pg_stat_activity` while it holds the lock, so an
operator (or a test) can see which replica holds it.

On SQLite there is one daemon per database file: the lock is always granted. Were two daemons
to share a file, each drill firing would still raise one alert (its row is unique).
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.store.engine import Database, is_sqlite

log = structlog.get_logger(__name__)

SCHEDULER_LOCK_CLASS = 0x6E6F_7469  # "noti": the drill scheduler's lock; its key the schema's hash
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
    """PostgreSQL: `pg_try_advisory_lock` on a dedicated connection, named `name worker`.

    The lock is (`lock_class`, `hashtext(key)`), `key` by default the schema's name.
    """

    def __init__(
        self,
        database: Database,
        worker: str,
        *,
        lock_class: int = SCHEDULER_LOCK_CLASS,
        key: str | None = None,
        name: str = APPLICATION_NAME,
    ) -> None:
        self._engine: AsyncEngine = database.engine
        self._name = f"{name} {worker}"[:63]
        self._class = lock_class
        self._key = key
        self._connection: AsyncConnection | None = None
        self._server_process: int | None = None
        """The server process of the connection holding the lock, or of the last one."""

    async def acquire(self) -> bool:
        if self._connection is not None:
            return True
        connection = await self._engine.connect()
        try:
            if self._server_process is not None:
                await _end_own_session(connection, self._server_process, self._name)
                self._server_process = None  # ended, or ending: once is enough
            taken = await connection.scalar(
                text(
                    "SELECT pg_try_advisory_lock("
                    ":class, hashtext(coalesce(CAST(:key AS text), current_schema())))"
                ),
                {"class": self._class, "key": self._key},
            )
            if taken:
                self._server_process = await connection.scalar(
                    text(
                        "SELECT pg_backend_pid() FROM set_config('application_name', :name, false)"
                    ),
                    {"name": self._name},
                )
            await connection.commit()
        except BaseException:
            await _close_quietly(connection)
            raise
        if not taken:
            await connection.close()  # back to the pool: it holds nothing
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
            await _close_quietly(connection)

    async def close(self) -> None:
        await self.release()


async def _end_own_session(connection: AsyncConnection, process: int, name: str) -> None:
    """End server process `process` if it is still there under our `name`: a session of ours
    whose connection was given up, which may still hold the lock. A refusal (a role not
    allowed to) is logged and left to the server's keepalives."""
    try:
        ended = await connection.scalar(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid = :process AND application_name = :name"
            ),
            {"process": process, "name": name},
        )
        await connection.commit()
    except DBAPIError as error:
        await connection.rollback()
        log.warning("lock_session_not_ended", lock=name, error=str(error.orig))
        return
    if ended:
        log.info("lock_session_ended", lock=name)


async def _close_quietly(connection: AsyncConnection) -> None:
    """End the connection's session (and with it its locks): closed, not put back in the pool."""
    with contextlib.suppress(Exception):  # a broken connection: its locks are gone already
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


def scheduler_lock(database: Database, worker: str) -> SchedulerLock:
    """The lock that elects the replica running the scheduler, for this database."""
    if is_sqlite(database.engine):
        return OneProcessLock()
    return AdvisoryLock(database, worker)
