"""Pooled PostgreSQL connections: pinged before use once idle, replaced when the ping fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from notifier.store.engine import create_engine
from notifier.store.idle_ping import IDLE_SECONDS, ping_when_idle

pytestmark = pytest.mark.postgres

IDLE = 0.3
"""The idle time of the pools these tests build themselves, to keep them short."""
WHO_AM_I = "SELECT pg_backend_pid()"
DRIVERS = ("asyncpg", "psycopg")


@pytest.fixture
async def observer(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, to see what the pool's connections did last."""
    url = make_url(postgres_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    yield connection
    await connection.close()


def engine_on(postgres_url: str, driver: str) -> AsyncEngine:
    """An engine of one pooled connection through `driver`, pinged after `IDLE` seconds."""
    url = make_url(postgres_url).set(drivername=f"postgresql+{driver}")
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, IDLE)
    return engine


async def backend_of(engine: AsyncEngine) -> int:
    """The server process of the connection the pool hands out, asked for in a transaction."""
    async with engine.connect() as connection:
        return int((await connection.execute(text(WHO_AM_I))).scalar_one())


async def last_change(observer: asyncpg.Connection, pid: int) -> tuple[str, object]:
    """The last statement the server process `pid` was sent, and when its state changed."""
    row = await observer.fetchrow(
        "SELECT query, state_change FROM pg_stat_activity WHERE pid = $1", pid
    )
    assert row is not None
    return str(row["query"]), row["state_change"]


async def cut_while_idle_then_used(
    engine: AsyncEngine, observer: asyncpg.Connection, idle: float
) -> None:
    """The server ends the engine's one connection, which then stays idle for `idle` seconds;
    the next statement runs, on another connection. The engine is disposed of."""
    try:
        pid = await backend_of(engine)
        assert await observer.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.sleep(idle)
        assert await backend_of(engine) != pid
    finally:
        await engine.dispose()


@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_connection_given_back_a_moment_ago_is_not_pinged_an_idle_one_is(
    postgres_url: str, observer: asyncpg.Connection, driver: str
) -> None:
    """Taken again at once, the connection is sent nothing before its own statements; taken
    after being idle, it is sent the ping first."""
    engine = engine_on(postgres_url, driver)
    try:
        pid = await backend_of(engine)
        given_back = await last_change(observer, pid)
        async with engine.connect():
            assert await last_change(observer, pid) == given_back
        await asyncio.sleep(IDLE * 2)
        given_back = await last_change(observer, pid)
        async with engine.connect():
            assert await last_change(observer, pid) != given_back
    finally:
        await engine.dispose()


@pytest.mark.parametrize("driver", DRIVERS)
async def test_an_idle_connection_cut_by_the_server_is_replaced_unseen(
    postgres_url: str, observer: asyncpg.Connection, driver: str
) -> None:
    """A connection the server ended while it was idle in the pool fails its ping, and the
    statement runs on a new connection without an error."""
    await cut_while_idle_then_used(engine_on(postgres_url, driver), observer, IDLE * 2)


async def test_a_connection_cut_a_moment_after_use_fails_once_then_the_pool_renews(
    postgres_url: str, observer: asyncpg.Connection
) -> None:
    """Cut while it was not yet idle, a connection fails its next statement (the caller waits
    it out as an outage); the pool then hands out a new one."""
    engine = engine_on(postgres_url, "asyncpg")
    try:
        pid = await backend_of(engine)
        assert await observer.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(DBAPIError) as failed:
            await backend_of(engine)
        assert failed.value.connection_invalidated
        assert await backend_of(engine) != pid
    finally:
        await engine.dispose()


async def test_the_daemons_engine_pings_its_idle_postgresql_connections(
    postgres_url: str, observer: asyncpg.Connection
) -> None:
    """`create_engine` sets the ping on: a connection cut while idle for `IDLE_SECONDS` is
    replaced without an error."""
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    await cut_while_idle_then_used(engine, observer, IDLE_SECONDS + 0.2)
