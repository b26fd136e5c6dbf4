"""`Database.run`: plain functions in one transaction, in the loop or a thread on SQLite, or PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text

from notifier.errors import ConfigError
from notifier.store.engine import POSTGRES_POOL_SIZE, Database, create_engine


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
    """Lengthy work runs in a thread of its own, which closing the database stops."""

    def sqlite_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("sqlite")]

    before = sqlite_threads()
    database = Database(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"))
    await make_table(database)
    await database.run_lengthy(write("one"))
    assert len(sqlite_threads()) == len(before) + 1
    await database.close()
    assert sqlite_threads() == before


async def test_lengthy_work_commits_and_a_failure_writes_nothing(empty_database: Database) -> None:
    """`run_lengthy` keeps `run`'s promise: all of the work or none of it."""
    await make_table(empty_database)
    assert await empty_database.run_lengthy(write("kept")) == len("kept")
    with pytest.raises(ValueError, match="failed after writing"):
        await empty_database.run_lengthy(write("lost", then_fail=True))
    assert await notes(empty_database) == ["kept"]


async def test_on_sqlite_short_work_runs_in_the_event_loops_thread(tmp_path: Path) -> None:
    """No thread hop for the hot path when nobody else is writing."""
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}") as database:
        await make_table(database)

        def where(connection: Connection) -> int:
            write("inline")(connection)
            return threading.get_ident()

        assert await database.run(where) == threading.get_ident()
        assert await database.run_lengthy(where) != threading.get_ident()


async def test_while_another_process_writes_short_work_waits_in_a_thread(tmp_path: Path) -> None:
    """The write lock held elsewhere: the loop goes on, and the work commits once it is free."""
    path = tmp_path / "notifier.db"
    async with Database.open(f"sqlite+aiosqlite:///{path}") as database:
        await make_table(database)
        other = sqlite3.connect(path, isolation_level=None)  # another program on the same file
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO note (words) VALUES ('from the other program')")
        running = asyncio.create_task(database.run(write("ours")))
        ticks = 0
        for _ in range(20):  # the loop is not blocked meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert not running.done()
        other.execute("COMMIT")
        other.close()
        assert await running == len("ours")
        assert ticks == 20

        def after(connection: Connection) -> int:  # the loop's connection is sound again
            write("after")(connection)
            return threading.get_ident()

        assert await database.run(after) == threading.get_ident()
        assert await notes(database) == ["after", "from the other program", "ours"]


async def test_a_read_only_session_reads_while_a_writer_holds_its_turn(tmp_path: Path) -> None:
    """An officer's screen is not held up by the outbox's writes, nor holds them up."""
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}") as database:
        await make_table(database)
        await database.run(write("before"))
        writing, release = asyncio.Event(), asyncio.Event()

        async def long_writer() -> None:
            async with database.session() as session:
                await session.execute(text("INSERT INTO note (words) VALUES ('during')"))
                writing.set()
                await release.wait()

        writer = asyncio.create_task(long_writer())
        await writing.wait()
        async with asyncio.timeout(5), database.session(read_only=True) as session:
            seen = list((await session.execute(text("SELECT words FROM note"))).scalars())
        assert seen == ["before"]  # the writer's row is not committed yet
        release.set()
        await writer
        assert await notes(database) == ["before", "during"]


async def test_a_checkpoint_copies_the_write_ahead_log_into_the_file(tmp_path: Path) -> None:
    """Short work never checkpoints in the loop; `checkpoint` brings its writes into the file."""
    path = tmp_path / "notifier.db"

    def in_the_file_alone() -> int:
        # `immutable` reads the database file and ignores the write-ahead log.
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as reader:
            return int(reader.execute("SELECT count(*) FROM note").fetchone()[0])

    async with Database.open(f"sqlite+aiosqlite:///{path}") as database:
        await make_table(database)
        await database.checkpoint()
        for number in range(3000):  # past SQLite's automatic checkpoint of 1,000 pages
            await database.run(write(f"note {number:04}"))
        assert in_the_file_alone() == 0
        await database.checkpoint()
        assert in_the_file_alone() == 3000


HELD_BY_A_REPLICA = 8
"""Pooled connections a replica holds for good: four kept for sending, its presence, its
news, the scheduler's and the CAP feeds' locks."""


@pytest.mark.postgres
@pytest.mark.parametrize(("pool_size", "most"), [(None, POSTGRES_POOL_SIZE), (12, 12), (40, 40)])
async def test_bursts_of_work_reuse_the_pools_connections(
    postgres_url: str, pool_size: int | None, most: int
) -> None:
    """Beside the connections a replica holds for good, bursts of concurrent transactions (a
    load balancer's probes, officers' screens) wait their turn for the pool's connections:
    none is closed on its return only for another to be opened (a new PostgreSQL process
    each), and no more than `database.pool_size` (by default POSTGRES_POOL_SIZE) are opened,
    every one of them used."""
    opened = 0

    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    async with Database.open(postgres_url, pool_size=pool_size) as database:
        event.listen(database.engine.sync_engine, "connect", count)
        held = [await database.engine.connect() for _ in range(HELD_BY_A_REPLICA)]

        async def probe() -> None:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        try:
            for _ in range(40):
                await asyncio.gather(*(probe() for _ in range(32)))
        finally:
            for connection in held:
                await connection.close()
    assert opened == most
