"""The async engine and sessions: SQLite tuned for a daemon (WAL, busy timeout), or PostgreSQL.

`Database.run` serves the dispatcher's hot path: a plain function over one connection in one
transaction. On a SQLite file it runs on a synchronous connection in a thread of its own, which
costs a tenth of what the async adapter costs per statement (one thread hop per statement).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, StaticPool, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from notifier.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether the engine speaks to SQLite (which claims and locks differently)."""
    return engine.dialect.name == "sqlite"


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for `url`; SQLite connections get WAL, a busy timeout and foreign keys."""
    try:
        parsed = make_url(url)
    except Exception as error:  # SQLAlchemy raises ArgumentError with its own wording
        raise ConfigError(
            f"configuration error: database.url: not a database URL ({error})"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            "configuration error: database.url: only sqlite+aiosqlite:// and "
            "postgresql+asyncpg:// or postgresql+psycopg:// are supported "
            f"(got {parsed.drivername})"
        )
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and _in_memory(parsed):
        raise ConfigError(
            "configuration error: database.url: an in-memory SQLite database is not supported "
            "(it would vanish with the process); give a file path"
        )
    # A SQLite file cannot go away under a pooled connection; a network database can.
    options.setdefault("pool_pre_ping", not sqlite)
    if sqlite:
        # Sessions take turns (see Database), so one connection, and one aiosqlite thread,
        # is all a process needs.
        options.setdefault("pool_size", 1)
        options.setdefault("max_overflow", 0)
    try:
        engine = create_async_engine(parsed, **options)
    except Exception as error:  # an unknown or missing driver
        raise ConfigError(f"configuration error: database.url: {error}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An engine with its session factory; the one handle the rest of the program holds."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the database locked
        # sleeps in SQLite's busy handler (1, 2, 5 … 100 ms). Taking turns in the event loop
        # instead keeps every transaction at its own cost. PostgreSQL needs no such turn.
        self._turn: asyncio.Lock | None = asyncio.Lock() if is_sqlite(engine) else None
        self._sqlite_file = engine.url.set(drivername="sqlite") if is_sqlite(engine) else None
        self._plain: _PlainConnection | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Database]:
        """Open the database at `url`, and dispose of its connections on exit."""
        database = cls(create_engine(url))
        try:
            yield database
        finally:
            await database.close()

    async def close(self) -> None:
        """Close every connection, the plain one's thread included."""
        plain, self._plain = self._plain, None
        if plain is not None:
            await asyncio.get_running_loop().run_in_executor(None, plain.close)
        await self.engine.dispose()

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in one transaction: committed if it returns, rolled back if not.

        For short, frequent work built from Core statements (`notifier.store.sending`). On
        SQLite it runs on a plain connection to the same file, in the plain connection's
        thread, taking its turn with the sessions.
        """
        if self._sqlite_file is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        if self._plain is None:
            self._plain = _PlainConnection(self._sqlite_file)
        assert self._turn is not None
        async with self._turn:
            return await self._plain.run(work)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with AsyncExitStack() as stack:
            if self._turn is not None:
                await stack.enter_async_context(self._turn)
            session = await stack.enter_async_context(self._sessions())
            await stack.enter_async_context(session.begin())
            yield session


class _PlainConnection:
    """One synchronous SQLite connection, used from one thread of its own, transaction by one."""

    def __init__(self, url: URL) -> None:
        self._engine: Engine = create_sync_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        event.listen(self._engine, "connect", _tune_sqlite)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def run(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._transaction, work
        )

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return work(connection)

    def close(self) -> None:
        self._thread.submit(self._engine.dispose).result()
        self._thread.shutdown()


def _in_memory(url: URL) -> bool:
    return (url.database or "") in ("", ":memory:") or url.query.get("mode") == "memory"
