"""`Database.run`: plain functions in one transaction, on SQLite's own thread or PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from notifier.errors import ConfigError
from notifier.store.engine import Database, create_engine


async def make_table(database: Database) -> None:
    async with database.session() as session:
        await session.execute(text("CREATE TABLE note (words TEXT)"))


def write(words: str, *, then_fail: bool = False) -> Callable[[Connection], int]:
    """Work that adds one note, and fails afterwards if asked."""

    def work(connection: Connection) -> int:
        connection.execute(text("INSERT INTO note (words) VALUES (:words)"), {"words": words})
        if then_fail:
            raise ValueError("the work failed after writing")
        return len(words)

    return work


async def notes(database: Database) -> list[str]:
    async with database.session() as session:
        return list(
            (await session.execute(text("SELECT words FROM note ORDER BY words"))).scalars()
        )


async def test_what_the_work_wrote_is_committed_and_its_result_returned(
    empty_database: Database,
) -> None:
    await make_table(empty_database)
    assert await empty_database.run(write("all safe")) == len("all safe")
    assert await notes(empty_database) == ["all safe"]


async def test_work_that_raises_writes_nothing(empty_database: Database) -> None:
    await make_table(empty_database)
    with pytest.raises(ValueError, match="failed after writing"):
        await empty_database.run(write("half", then_fail=True))
    assert await notes(empty_database) == []


async def test_runs_and_sessions_writing_at_once_all_commit(empty_database: Database) -> None:
    """On SQLite the plain connection and the async one take turns: no `database is locked`."""
    await make_table(empty_database)

    async def by_session(number: int) -> None:
        async with empty_database.session() as session:
            await session.execute(
                text("INSERT INTO note (words) VALUES (:words)"), {"words": f"session {number}"}
            )

    await asyncio.gather(
        *(empty_database.run(write(f"run {n}")) for n in range(30)),
        *(by_session(n) for n in range(30)),
    )
    written = await notes(empty_database)
    assert written == sorted([f"run {n}" for n in range(30)] + [f"session {n}" for n in range(30)])


def test_an_in_memory_sqlite_database_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"database\.url: an in-memory SQLite database"):
        create_engine("sqlite+aiosqlite:///:memory:")


async def test_closing_stops_the_sqlite_thread(tmp_path: Path) -> None:
    def sqlite_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("sqlite")]

    before = sqlite_threads()
    database = Database(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"))
    await make_table(database)
    await database.run(write("one"))
    assert len(sqlite_threads()) == len(before) + 1
    await database.close()
    assert sqlite_threads() == before
