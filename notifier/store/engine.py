"""The async engine and sessions: SQLite tuned for a daemon (WAL, busy timeout), or PostgreSQL.

`Database.run` serves the dispatcher's hot path: a plain function over one connection in one
transaction. On a SQLite file it runs on a synchronous connection in the event loop's own
thread, which costs a fraction of what the async adapter costs (a thread hop per statement)
and of what a thread of its own costs (the GIL handed back and forth: measured, a record of
a dozen sent messages took 2.4 ms there against 0.4 ms in the loop). That connection never
waits for a lock: when another process holds SQLite's write lock, the work runs instead on a
second connection, in a thread, which waits (`SQLITE_BUSY_TIMEOUT_MS`); so does lengthy work
(`Database.run_lengthy`), and the WAL checkpoints (`Database.checkpoint`), whose disk syncs
must not stall the loop. On PostgreSQL through asyncpg, the hot path goes to the driver on
`Database.direct` instead (`notifier.store.hot_path`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine, StaticPool, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from notifier.errors import ConfigError
from notifier.store.dead_connections import connect_arguments, watch_sockets
from notifier.store.direct import DirectConnections
from notifier.store.idle_ping import ping_when_idle
from notifier.store.outage import Outages

SQLITE_BUSY_TIMEOUT_MS = 10_000

CONNECT_TIMEOUT_SECONDS = 10
"""How long opening a connection to PostgreSQL may take before it counts as an outage.

The drivers' own default is a minute: a loop trying to connect to a server that went away
without a word would go on waiting that long after it came back.
"""

POSTGRES_POOL_SIZE: Final = 16
"""The most connections a replica's pool opens to PostgreSQL, each kept open once opened
(`database.pool_size`). A replica holds about eight for good (four kept for sending, its
presence, its news, the scheduler's and the CAP feeds' locks); the rest serve requests and
loops in turn. A pool that closed connections on their return only to open others at once (a
new PostgreSQL process each) made 2,300 in the 30 s of `bench/replies.py`'s `/healthz` load
on two replicas with SQLAlchemy's default of 5 kept (`tests/store/test_engine.py`)."""
_CONNECT_TIMEOUT_ARGUMENT = {"asyncpg": "timeout", "psycopg": "connect_timeout"}

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
    timeout = _CONNECT_TIMEOUT_ARGUMENT.get(parsed.get_driver_name())
    if timeout is not None:
        options["connect_args"] = {
            timeout: CONNECT_TIMEOUT_SECONDS,
            **options.get("connect_args", {}),
        }
    if not sqlite:
        options["connect_args"] = connect_arguments(
            parsed.get_driver_name(), options.get("connect_args", {})
        )
    if sqlite:
        # Writing sessions take turns (see Database); reading ones go alongside, and WAL lets
        # them read while one writes. A few connections (an aiosqlite thread each) suffice.
        options.setdefault("pool_size", 4)
        options.setdefault("max_overflow", 0)
    else:
        options.setdefault("pool_size", POSTGRES_POOL_SIZE)
        options.setdefault("max_overflow", 0)
    try:
        engine = create_async_engine(parsed, **options)
    except Exception as error:  # an unknown or missing driver
        raise ConfigError(f"configuration error: database.url: {error}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    watch_sockets(engine)
    if not options.get("pool_pre_ping"):
        # A SQLite file cannot go away under a pooled connection; a network database can, and
        # a connection broken by an outage is then found and replaced when it is next taken.
        ping_when_idle(engine)
    return engine


def _tune_sqlite(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An engine with its session factory; the one handle the rest of the program holds.

    `outages` is what the process's loops know of the database being away, shared by all of
    them: each loop waits an outage out (`notifier.store.outage`).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.outages = Outages()
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite has one writer at a time, and a writer that finds the database locked
        # sleeps in SQLite's busy handler (1, 2, 5 … 100 ms). Taking turns in the event loop
        # instead keeps every transaction at its own cost. PostgreSQL needs no such turn.
        self._turn: asyncio.Lock | None = asyncio.Lock() if is_sqlite(engine) else None
        self._sqlite_file = engine.url.set(drivername="sqlite") if is_sqlite(engine) else None
        self._plain: _PlainConnections | None = None
        self.direct: DirectConnections | None = None
        """On PostgreSQL through asyncpg, connections for the hot path (`store.hot_path`)."""
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
            self.direct = DirectConnections(engine)

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, *, pool_size: int | None = None) -> AsyncIterator[Database]:
        """Open the database at `url`, and dispose of its connections on exit. `pool_size`:
        the most connections to open to PostgreSQL (POSTGRES_POOL_SIZE if None)."""
        options = {} if pool_size is None or url.startswith("sqlite") else {"pool_size": pool_size}
        database = cls(create_engine(url, **options))
        try:
            yield database
        finally:
            await database.close()

    async def close(self) -> None:
        """Close every connection, the plain ones' thread and the direct ones included."""
        plain, self._plain = self._plain, None
        if plain is not None:
            await plain.close()
        if self.direct is not None:
            await self.direct.close()
        await self.engine.dispose()

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in one transaction: committed if it returns, rolled back if not.

        For short, frequent work built from Core statements (`notifier.store.sending`), well
        under a millisecond or two. On SQLite it runs in the event loop's thread on a plain
        connection to the same file, taking its turn with the writing sessions; when another
        process holds the write lock, it runs in the plain connections' thread instead, which
        waits for the lock. `work` may therefore run twice: it must act on the connection alone.
        """
        if self._sqlite_file is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        assert self._turn is not None
        async with self._turn:
            return await self._plain_connections().run(work, inline=True)

    async def run_lengthy(self, work: Callable[[Connection], T]) -> T:
        """`run`, for work that may take many milliseconds (a batch of a thousand inserts).

        On SQLite it runs in the plain connections' thread, where SQLite's own work goes on
        without the GIL while the event loop serves the rest.
        """
        if self._sqlite_file is None:
            return await self.run(work)
        assert self._turn is not None
        async with self._turn:
            return await self._plain_connections().run(work, inline=False)

    async def checkpoint(self) -> None:
        """On SQLite, copy what the write-ahead log holds into the database file, in the thread.

        The connection `run` uses never checkpoints by itself: a checkpoint syncs the disk,
        which must not stall the event loop. Called now and then by the dispatcher. A no-op on
        PostgreSQL.
        """
        if self._sqlite_file is not None:
            await self._plain_connections().checkpoint()

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error.

        `read_only` promises that the session writes nothing: on SQLite it then goes
        alongside the writers instead of taking its turn (WAL lets readers read while one
        writes), so an officer's screen never holds up the outbox. A read-only session that
        writes still works, but may wait in SQLite's busy handler.
        """
        async with AsyncExitStack() as stack:
            if self._turn is not None and not read_only:
                await stack.enter_async_context(self._turn)
            session = await stack.enter_async_context(self._sessions())
            await stack.enter_async_context(session.begin())
            yield session

    def _plain_connections(self) -> _PlainConnections:
        assert self._sqlite_file is not None
        if self._plain is None:
            self._plain = _PlainConnections(self._sqlite_file)
        return self._plain


class _PlainConnections:
    """Two synchronous connections to one SQLite file, each transaction `BEGIN IMMEDIATE`.

    The inline one is used in the event loop's thread and never waits: a busy timeout of 0,
    no automatic checkpoints. The patient one is used in a thread of its own and waits for
    the write lock like every other connection. The write lock is taken at `BEGIN`, so work
    that finds it held has done nothing yet, and is run again on the patient connection.
    """

    def __init__(self, url: URL) -> None:
        self._inline = _plain_connection(url, busy_timeout_ms=0, autocheckpoint=False)
        self._patient = _plain_connection(url, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def run(self, work: Callable[[Connection], T], *, inline: bool) -> T:
        if inline:
            try:
                return _transaction(self._inline, work)
            except OperationalError as error:
                if not _is_busy(error):
                    raise
                # Another process is writing: wait for it in the thread, not in the loop.
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, _transaction, self._patient, work
        )

    async def checkpoint(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)

    def _checkpoint(self) -> None:
        # PASSIVE: copies what it can without waiting for readers or the writer.
        driver = self._patient.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").close()

    async def close(self) -> None:
        def close_both() -> None:
            for connection in (self._inline, self._patient):
                engine = connection.engine
                connection.close()
                engine.dispose()

        await asyncio.get_running_loop().run_in_executor(self._thread, close_both)
        self._thread.shutdown()


def _plain_connection(url: URL, *, busy_timeout_ms: int, autocheckpoint: bool = True) -> Connection:
    """A synchronous connection, kept open, whose transactions take the write lock at `BEGIN`."""
    engine: Engine = create_sync_engine(
        url, poolclass=StaticPool, connect_args={"check_same_thread": False}
    )

    def tune(dbapi_connection: Any, _record: object) -> None:
        _tune_sqlite(dbapi_connection, _record)
        dbapi_connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if not autocheckpoint:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
        # The driver's own transaction handling off: SQLAlchemy's `begin` says BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None

    event.listen(engine, "connect", tune)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine.connect()


def _transaction(connection: Connection, work: Callable[[Connection], T]) -> T:
    with connection.begin():
        return work(connection)


def _is_busy(error: OperationalError) -> bool:
    code = getattr(error.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def _in_memory(url: URL) -> bool:
    return (url.database or "") in ("", ":memory:") or url.query.get("mode") == "memory"
