"""The async engine and sessions: SQLite tuned for a daemon (WAL, busy timeout), or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from notifier.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 10_000


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

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Database]:
        """Open the database at `url`, and dispose of its connections on exit."""
        engine = create_engine(url)
        try:
            yield cls(engine)
        finally:
            await engine.dispose()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with AsyncExitStack() as stack:
            if self._turn is not None:
                await stack.enter_async_context(self._turn)
            session = await stack.enter_async_context(self._sessions())
            await stack.enter_async_context(session.begin())
            yield session
