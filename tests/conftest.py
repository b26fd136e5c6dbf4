"""Fixtures: a real database on SQLite and on PostgreSQL, fresh for each test, and data files."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from notifier.store.engine import Database
from tests import migrated
from tests.postgres import throwaway_schema

POSTGRES_URL = os.environ.get(
    "NOTIFIER_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CONTACTS = Path(__file__).parent.parent / "contacts"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        help="also run the tests marked slow (the full-size fault runs of tests/faults)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked slow unless --slow is given."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="full-size fault run: add --slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


async def _postgres_unreachable() -> str | None:
    engine = create_async_engine(POSTGRES_URL)
    try:
        async with asyncio.timeout(5), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to connect means the server is not there
        return f"{type(error).__name__}: {error}"
    finally:
        await engine.dispose()
    return None


@pytest.fixture(autouse=True)
def logging_as_found() -> Iterator[None]:
    """Undo what a test did to the process's logging, so no later test depends on the order.

    `configure_logging` (the command line calls it) sets structlog to drop events below
    its level before any processor sees them, so capture_logs() in a later test would miss
    debug events; and it gives the standard library's loggers new handlers and levels.
    (A module's logger first used while such a test runs keeps that test's settings: they
    are cached on first use, for speed in the daemon.)
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    kept = [
        (logger, logger.level, logger.handlers[:], logger.propagate)
        for logger in loggers
        if isinstance(logger, logging.Logger)
    ]
    yield
    structlog.reset_defaults()
    for logger, level, handlers, propagate in kept:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server's URL: a failure in CI when it is unreachable, else a skip."""
    # Run in a thread: this fixture may be first asked for inside a running event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        problem = pool.submit(asyncio.run, _postgres_unreachable()).result()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable ({problem})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no schema: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}") as database:
            yield database
        return
    url = request.getfixturevalue("postgres_url")
    async with throwaway_schema(url, "test") as database:
        yield database


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest schema, once per session, for tests to copy."""
    path = tmp_path_factory.mktemp("template") / "notifier.db"
    with ThreadPoolExecutor(max_workers=1) as pool:  # maybe asked for in a running loop
        pool.submit(asyncio.run, migrated.migrate_sqlite_file(path)).result()
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated to the newest schema, once per session, to copy."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        name = pool.submit(asyncio.run, migrated.create_postgres_template(postgres_url)).result()
    yield name
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, migrated.drop_postgres_database(postgres_url, name)).result()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database at the newest schema: a copy of one the migrations built for the session."""
    if request.param == "sqlite":
        path = tmp_path / "notifier.db"
        migrated.copy_sqlite_file(request.getfixturevalue("migrated_sqlite"), path)
        async with Database.open(f"sqlite+aiosqlite:///{path}") as database:
            yield database
        return
    url = request.getfixturevalue("postgres_url")
    template = request.getfixturevalue("migrated_postgres")
    async with migrated.copied_postgres_database(url, template) as database:
        yield database


@pytest.fixture
async def asyncpg_database(postgres_url: str, migrated_postgres: str) -> AsyncIterator[Database]:
    """A PostgreSQL database at the newest schema, through asyncpg, for tests of that server
    alone (mark them `postgres`)."""
    async with migrated.copied_postgres_database(postgres_url, migrated_postgres) as database:
        yield database


@pytest.fixture
def write_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write text (or bytes) to a file in the test's directory, made current; its relative path."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, content: str | bytes) -> Path:
        path = Path(name)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write
