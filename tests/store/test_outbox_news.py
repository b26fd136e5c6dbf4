"""News between replicas on PostgreSQL: what one announces, the others hear at once, and it
hears nothing of its own; a listener whose connection is cut listens again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from notifier.store.engine import Database
from notifier.store.outbox_news import (
    APPLICATION_NAME,
    RETRY_SECONDS,
    PostgresNews,
    Silence,
    outbox_news,
)


@asynccontextmanager
async def listening(news: PostgresNews) -> AsyncIterator[asyncio.Queue[int]]:
    """`news` listening until the block ends; what it hears, in a queue."""
    heard: asyncio.Queue[int] = asyncio.Queue()
    stopping = asyncio.Event()
    task = asyncio.create_task(news.listen(heard.put_nowait, stopping))
    try:
        yield heard
    finally:
        stopping.set()
        await asyncio.wait_for(task, 5)


async def listeners(database: Database) -> list[int]:
    """The server's ids of the sessions listening for news on this database."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name LIKE :name AND datname = current_database()"
            ),
            {"name": f"{APPLICATION_NAME} %"},
        )
    return [pid for (pid,) in rows]


def test_no_news_on_sqlite(database: Database) -> None:
    news = outbox_news(database, "w")
    is_asyncpg = database.direct is not None
    assert isinstance(news, PostgresNews if is_asyncpg else Silence)


@pytest.mark.postgres
async def test_the_others_hear_what_a_replica_announces(asyncpg_database: Database) -> None:
    database = asyncpg_database
    one, other = PostgresNews(database, "one"), PostgresNews(database, "other")
    async with listening(one) as heard_by_one, listening(other) as heard_by_other:
        await until_listening(database, 2)
        await one.announce(7)
        await other.announce(3)
        assert await asyncio.wait_for(heard_by_other.get(), 5) == 7
        assert await asyncio.wait_for(heard_by_one.get(), 5) == 3
        await asyncio.sleep(0.2)
        assert heard_by_one.empty(), "a replica heard its own announcement"
        assert heard_by_other.empty()


@pytest.mark.postgres
async def test_a_listener_cut_off_listens_again(asyncpg_database: Database) -> None:
    database = asyncpg_database
    announcer, listener = PostgresNews(database, "announcer"), PostgresNews(database, "listener")
    async with listening(listener) as heard:
        await until_listening(database, 1)
        (pid,) = await listeners(database)
        async with database.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await until_listening(database, 1, other_than=pid, seconds=RETRY_SECONDS + 5)
        await announcer.announce(11)
        assert await asyncio.wait_for(heard.get(), 5) == 11


async def until_listening(
    database: Database, count: int, *, other_than: int | None = None, seconds: float = 5
) -> None:
    """Wait until `count` sessions listen (none of them `other_than`)."""
    async with asyncio.timeout(seconds):
        while True:
            found = [pid for pid in await listeners(database) if pid != other_than]
            if len(found) >= count:
                return
            await asyncio.sleep(0.02)
