"""Databases migrated once per test session, then copied for each test that needs one.

Running the migrations costs about 0.4 s a database, most of it Alembic's own work, and about
a thousand tests want a fresh migrated database. So the schema is built once by the real
migrations, into a SQLite file and into a PostgreSQL database used as a template, and each
test gets a copy: the file copied, or `CREATE DATABASE … TEMPLATE` (tens of milliseconds).
The tests of the migrations themselves start from an empty database instead.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from notifier.store import schema
from notifier.store.engine import Database


async def migrate_sqlite_file(path: Path) -> None:
    """Migrate a new SQLite file at `path`, its write-ahead log folded into it."""
    async with Database.open(f"sqlite+aiosqlite:///{path}") as database:
        await schema.upgrade(database)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def copy_sqlite_file(template: Path, path: Path) -> None:
    """A migrated database at `path`, copied from `template`."""
    shutil.copyfile(template, path)


def database_url(server_url: str, name: str) -> str:
    """`server_url` pointing at the database `name`."""
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def create_postgres_template(server_url: str) -> str:
    """A new PostgreSQL database, migrated, for tests to copy; its name."""
    name = f"notifier_template_{secrets.token_hex(4)}"
    await _administer(server_url, f"CREATE DATABASE {name}")
    async with Database.open(database_url(server_url, name)) as database:
        await schema.upgrade(database)
    return name


async def drop_postgres_database(server_url: str, name: str) -> None:
    """Drop the database `name`, ending any session still connected to it."""
    await _administer(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@asynccontextmanager
async def copied_postgres_database(server_url: str, template: str) -> AsyncIterator[Database]:
    """A database of its own copied from `template`, dropped on exit."""
    name = f"notifier_test_{secrets.token_hex(6)}"
    await _administer(server_url, f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        async with Database.open(database_url(server_url, name)) as database:
            yield database
    finally:
        await drop_postgres_database(server_url, name)


async def _administer(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()
