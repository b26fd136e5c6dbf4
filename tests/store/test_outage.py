"""Which errors mean the database is away, and loops that wait an outage out."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from notifier.store.engine import Database, create_engine
from notifier.store.outage import Backoff, Outages, is_unavailable
from tests.processes.daemons import free_port

QUICK = Backoff(first=0.01, most=0.05)


async def _select_one(engine: AsyncEngine) -> Exception:
    """The error `SELECT 1` on `engine` fails with."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # the error under test, whatever its class
        return error
    raise AssertionError("SELECT 1 did not fail")


@pytest.mark.parametrize(
    ("jitter", "pauses"),
    [
        (1.0, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]),
        (0.0, [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]),
    ],
)
def test_pauses_double_from_half_a_second_to_ten_with_jitter(
    jitter: float, pauses: list[float]
) -> None:
    """Each failure in a row doubles the pause from 0.5 s up to 10 s; jitter cuts up to half."""
    backoff = Backoff(jitter=lambda: jitter)
    assert [backoff.pause(failures) for failures in range(1, 8)] == pauses


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_a_refused_postgresql_connection_means_unavailable(driver: str) -> None:
    """Nobody listening where the server was (a restart, a failover): an outage."""
    engine = create_engine(f"postgresql+{driver}://postgres@127.0.0.1:{free_port()}/test")
    try:
        error = await _select_one(engine)
    finally:
        await engine.dispose()
    assert is_unavailable(error), repr(error)


@pytest.mark.postgres
async def test_a_connection_the_server_ends_means_unavailable(postgres_url: str) -> None:
    """A server shutting down ends its connections (SQLSTATE 57P01): an outage."""
    async with Database.open(postgres_url) as database, database.engine.connect() as doomed:
        pid = (await doomed.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with database.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        try:
            await doomed.execute(text("SELECT 1"))
        except Exception as error:  # the error under test, whatever its class
            assert is_unavailable(error), repr(error)
        else:
            raise AssertionError("the ended connection still answered")


@pytest.mark.postgres
async def test_errors_in_the_statement_do_not_mean_unavailable(postgres_url: str) -> None:
    """A syntax error or a broken constraint is a fault of the program, not an outage."""
    async with Database.open(postgres_url) as database:
        for statement in ("SELEC 1", "SELECT 1 / 0", "SELECT * FROM no_such_table"):
            async with database.engine.connect() as connection:
                try:
                    await connection.execute(text(statement))
                except Exception as error:  # the error under test, whatever its class
                    assert not is_unavailable(error), (statement, repr(error))
                else:
                    raise AssertionError(f"{statement} did not fail")


def test_a_sqlite_file_locked_by_another_program_means_unavailable(tmp_path: Path) -> None:
    """`database is locked`, raw from sqlite3 or wrapped by SQLAlchemy: an outage."""
    path = tmp_path / "notifier.db"
    holder = sqlite3.connect(path, isolation_level=None)  # a backup, a batch job
    holder.execute("CREATE TABLE note (words TEXT)")
    holder.execute("BEGIN EXCLUSIVE")
    writer = sqlite3.connect(path, timeout=0)
    engine = create_sync_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked") as raw:
            writer.execute("INSERT INTO note VALUES ('raw')")
        assert is_unavailable(raw.value)
        with (
            pytest.raises(OperationalError, match="locked") as wrapped,
            engine.begin() as connection,
        ):
            connection.execute(text("INSERT INTO note VALUES ('wrapped')"))
        assert is_unavailable(wrapped.value)
    finally:
        writer.close()
        engine.dispose()
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_missing_sqlite_table_does_not_mean_unavailable(tmp_path: Path) -> None:
    """`no such table` is an operational error to SQLite, but a fault of the program here."""
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}") as database:
        error = await _select_one_from_nowhere(database)
    assert not is_unavailable(error), repr(error)


async def _select_one_from_nowhere(database: Database) -> Exception:
    try:
        async with database.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    except Exception as error:  # the error under test, whatever its class
        return error
    raise AssertionError("the query did not fail")


def test_other_errors_do_not_mean_unavailable() -> None:
    """A bug (a KeyError, a ValueError) is not waited out as if the database were away."""
    assert not is_unavailable(KeyError("alert"))
    assert not is_unavailable(ValueError("bad value"))


class _Server:
    """A TCP port on loopback that refuses connections until `up()`: a database stand-in."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: asyncio.Server | None = None

    async def up(self) -> None:
        self._server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", self.port)

    async def reach(self) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_loops_wait_an_outage_out_and_it_is_logged_once_each_way() -> None:
    """Three loops find the server away, many times: one warning, one line when it is back."""
    server = _Server()
    outages = Outages(QUICK)
    stopping = asyncio.Event()
    passes = {"claims": 0, "housekeeping": 0, "escalation": 0}

    async def loop(name: str) -> None:
        guard = outages.guard(name, stopping)
        while not stopping.is_set():
            async with guard:
                await server.reach()
                passes[name] += 1
            if guard.passed:
                await asyncio.sleep(0.01)

    with capture_logs() as logs:
        loops = [asyncio.create_task(loop(name)) for name in passes]
        await asyncio.sleep(0.5)
        assert set(passes.values()) == {0}
        assert outages.waiting == set(passes)
        await server.up()
        try:
            async with asyncio.timeout(5):
                while min(passes.values()) < 3:
                    await asyncio.sleep(0.01)
        finally:
            stopping.set()
            await asyncio.gather(*loops)
            await server.close()
    events = [entry["event"] for entry in logs]
    assert events.count("database_unavailable") == 1, logs
    assert events.count("database_available") == 1, logs
    away = next(entry for entry in logs if entry["event"] == "database_unavailable")
    assert away["loop"] in passes
    assert str(away["error"]).startswith("ConnectionRefusedError")
    assert outages.waiting == set()


async def test_a_fault_in_a_loop_is_logged_with_its_traceback_and_the_loop_goes_on() -> None:
    """A bug in one pass does not end the loop (nor the daemon): logged, paused, tried again."""
    outages = Outages(QUICK)
    stopping = asyncio.Event()
    passes = 0

    async def loop() -> None:
        nonlocal passes
        guard = outages.guard("materialisation", stopping)
        while not stopping.is_set():
            async with guard:
                passes += 1
                if passes <= 2:
                    raise KeyError("an alert nobody knows")
                stopping.set()

    with capture_logs() as logs:
        async with asyncio.timeout(5):
            await loop()
    assert passes == 3
    failures = [entry for entry in logs if entry["event"] == "loop_failed"]
    assert len(failures) == 2
    assert failures[0]["loop"] == "materialisation"
    assert isinstance(failures[0]["exc_info"], KeyError)
    assert not [entry for entry in logs if entry["event"].startswith("database_")]


async def test_retry_waits_an_outage_out_but_raises_a_fault_at_once() -> None:
    """A write retried through an outage is done once the server is back; a bug is not retried."""
    server = _Server()
    outages = Outages(QUICK)
    tries = 0

    async def write() -> str:
        nonlocal tries
        tries += 1
        if tries == 3:
            await server.up()
        await server.reach()
        return "written"

    async def faulty() -> str:
        raise ValueError("not an outage")

    try:
        with capture_logs() as logs:
            async with asyncio.timeout(5):
                assert await outages.retry("sent_records", write) == "written"
                with pytest.raises(ValueError, match="not an outage"):
                    await outages.retry("sent_records", faulty)
    finally:
        await server.close()
    assert tries == 3
    assert [entry["event"] for entry in logs] == ["database_unavailable", "database_available"]
