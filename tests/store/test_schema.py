"""Migrations: create the schema from nothing on both databases, match the tables, and go back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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
    """A database at an earlier revision is refused with both revisions named."""
    head = schema.head_revision()
    earlier = ScriptDirectory.from_config(schema.alembic_config()).get_revision(head).down_revision
    assert isinstance(earlier, str)
    async with database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :earlier"), {"earlier": earlier}
        )
    with pytest.raises(
        SchemaError, match=rf"is at revision {earlier}, this version needs {head}: run `notifier db"
    ):
        await schema.require_current(database)


async def test_serve_refuses_a_schema_it_does_not_know(database: Database) -> None:
    """A database at a revision this version does not ship (a newer version upgraded it) is
    refused with what to do, not told to run `db upgrade`, which cannot downgrade it."""
    async with database.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(
        SchemaError, match=r"0099_future, which this version does not know"
    ) as raised:
        await schema.require_current(database)
    assert "db upgrade" not in str(raised.value)


async def test_sqlite_is_tuned_for_a_daemon(tmp_path: object) -> None:
    """SQLite connections run in WAL mode with foreign keys enforced and a busy timeout."""
    url = f"sqlite+aiosqlite:///{tmp_path}/tuned.db"
    async with Database.open(url) as database, database.engine.connect() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
        busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
    assert (mode, keys) == ("wal", 1)
    assert busy is not None and int(busy) >= 5000


async def test_upgrade_from_the_first_schema_keeps_the_outbox(empty_database: Database) -> None:
    """0001 → 0002 on a database with an alert in flight: its deliveries stay, as alerts."""
    await schema.upgrade(empty_database, "0001")
    statements = [
        "INSERT INTO station (code, name, country, timezone, created_at, updated_at)"
        " VALUES ('NBO', 'Nairobi', 'KE', 'Africa/Nairobi', :now, :now)",
        "INSERT INTO person (id, person_id, name, phone, station_code, language, active,"
        " sms_opted_out, created_at, updated_at)"
        " VALUES (1, 'N1', 'Ana', '+254700000001', 'NBO', 'en', true, false, :now, :now)",
        "INSERT INTO alert (id, code, kind, severity, title, message, messages, audience,"
        " channels, status, priority, created_by, recipients, materialise_cursor,"
        " skipped_inactive, skipped_opted_out, created_at) VALUES (1, 'K7Q2', 'emergency',"
        " 'severe', 'Fire', 'Leave.', '{}', '{}', '[]', 'dispatching', 0, 'o', 1, 1, 0, 0, :now)",
        "INSERT INTO delivery (id, alert_id, person, channel, round, status, priority,"
        " attempts, next_attempt_at, created_at)"
        " VALUES (1, 1, 1, 'sms', 0, 'queued', 0, 0, :now, :now)",
    ]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    async with empty_database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), {"now": now})
    await schema.upgrade(empty_database)
    async with empty_database.engine.connect() as connection:
        delivery = (
            await connection.execute(text("SELECT status, purpose, body FROM delivery"))
        ).one()
        escalations = (await connection.execute(text("SELECT escalations FROM alert"))).scalar()
    assert tuple(delivery) == ("queued", "alert", None)
    assert escalations == 0


async def test_upgrade_to_drill_schedules_keeps_a_drill(empty_database: Database) -> None:
    """0003 → 0004 with a drill of one station: it keeps its station, zone, state and last alert."""
    await schema.upgrade(empty_database, "0003")
    statements = [
        "INSERT INTO station (code, name, country, timezone, created_at, updated_at)"
        " VALUES ('NBO', 'Nairobi', 'KE', 'Africa/Nairobi', :now, :now)",
        "INSERT INTO drill (id, name, station_code, cron, title, message, groups, channels,"
        " enabled, created_at) VALUES (1, 'monthly', 'NBO', '0 10 1-7 * mon', 'Drill', 'Reply.',"
        " '[]', '[\"sms\"]', false, :now)",
        "INSERT INTO alert (id, code, kind, severity, title, message, messages, audience,"
        " channels, status, priority, created_by, drill_id, recipients, materialise_cursor,"
        " skipped_inactive, skipped_opted_out, created_at) VALUES (7, 'K7Q2', 'drill',"
        " 'minor', 'Drill', 'Reply.', '{}', '{}', '[]', 'closed', 0, 'o', 1, 0, 0, 0, 0, :now)",
    ]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    async with empty_database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), {"now": now})
    await schema.upgrade(empty_database)
    async with empty_database.engine.connect() as connection:
        drill = (
            await connection.execute(
                text("SELECT stations, timezone, paused, missed, last_alert_id, title FROM drill")
            )
        ).one()
        version = await connection.scalar(text("SELECT version FROM drill_schedule_version"))
    stations = drill[0] if isinstance(drill[0], list) else json.loads(drill[0])
    assert (stations, *drill[1:]) == (["NBO"], "Africa/Nairobi", True, 0, 7, "Drill")
    assert version == 0


async def test_submission_comes_and_goes_without_touching_deliveries(
    empty_database: Database,
) -> None:
    """0005 → 0006 → 0005 with an alert in flight: its deliveries and answers stay throughout
    (a copied alert table would have taken them with the old one)."""
    await schema.upgrade(empty_database, "0005")
    statements = [
        "INSERT INTO station (code, name, country, timezone, created_at, updated_at)"
        " VALUES ('NBO', 'Nairobi', 'KE', 'Africa/Nairobi', :now, :now)",
        "INSERT INTO person (id, person_id, name, phone, station_code, language, active,"
        " sms_opted_out, created_at, updated_at)"
        " VALUES (1, 'N1', 'Ana', '+254700000001', 'NBO', 'en', true, false, :now, :now)",
        "INSERT INTO alert (id, code, kind, severity, title, message, messages, audience,"
        " channels, status, priority, created_by, recipients, materialise_cursor,"
        " skipped_inactive, skipped_opted_out, created_at) VALUES (1, 'K7Q2', 'emergency',"
        " 'severe', 'Fire', 'Leave.', '{}', '{}', '[]', 'dispatching', 0, 'o', 1, 1, 0, 0, :now)",
        "INSERT INTO delivery (id, alert_id, person, channel, round, status, priority,"
        " attempts, next_attempt_at, created_at, purpose)"
        " VALUES (1, 1, 1, 'sms', 0, 'queued', 0, 0, :now, :now, 'alert')",
    ]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    async with empty_database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), {"now": now})

    async def deliveries() -> list[tuple[int, str]]:
        async with empty_database.engine.connect() as connection:
            found = await connection.execute(text("SELECT alert_id, status FROM delivery"))
            return [(alert_id, status) for alert_id, status in found.all()]

    await schema.upgrade(empty_database, "0006")
    assert await deliveries() == [(1, "queued")]
    async with empty_database.engine.begin() as connection:
        await connection.execute(text("UPDATE alert SET submission = :value"), {"value": "ab" * 16})
    await schema.downgrade(empty_database, "0005")
    assert await deliveries() == [(1, "queued")]
