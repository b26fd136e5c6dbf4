"""Migrations: create the schema from nothing on both databases, match the tables, and go back."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from notifier.errors import SchemaError
from notifier.store import schema
from notifier.store.engine import Database
from notifier.store.tables import metadata


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_creates_the_tables_the_code_declares(empty_database: Database) -> None:
    """After `db upgrade` the database holds exactly the tables and indexes of the models."""
    before, after = await schema.upgrade(empty_database)
    assert (before, after) == (None, schema.head_revision())
    async with empty_database.engine.connect() as connection:
        assert await connection.run_sync(_schema_differences) == []
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    expected = {"station", "person", "person_group", "api_token", "alert", "recipient", "delivery"}
    assert expected | {"response", "audit_log", "drill", "alembic_version"} <= names


async def test_upgrade_twice_changes_nothing(empty_database: Database) -> None:
    """A second `db upgrade` on a current database is a no-op."""
    await schema.upgrade(empty_database)
    before, after = await schema.upgrade(empty_database)
    assert before == after == schema.head_revision()


async def test_downgrade_to_base_and_up_again(empty_database: Database) -> None:
    """Every migration can be undone, and the schema rebuilt after."""
    await schema.upgrade(empty_database)
    await schema.downgrade(empty_database, "base")
    async with empty_database.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert names <= {"alembic_version"}
    await schema.upgrade(empty_database)
    assert await schema.current_revision(empty_database) == schema.head_revision()


async def test_serve_refuses_an_empty_database(empty_database: Database) -> None:
    """The daemon's schema check says what to run when the database was never migrated."""
    with pytest.raises(SchemaError, match=r"database schema is empty.*run `notifier db upgrade`"):
        await schema.require_current(empty_database)


async def test_serve_refuses_an_older_schema(database: Database) -> None:
    """A database at another revision is refused with both revisions named."""
    async with database.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(SchemaError, match=r"is at revision 0000, this version needs"):
        await schema.require_current(database)


async def test_sqlite_is_tuned_for_a_daemon(tmp_path: object) -> None:
    """SQLite connections run in WAL mode with foreign keys enforced and a busy timeout."""
    url = f"sqlite+aiosqlite:///{tmp_path}/tuned.db"
    async with Database.open(url) as database, database.engine.connect() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
        busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
    assert (mode, keys) == ("wal", 1)
    assert busy is not None and int(busy) >= 5000
