"""Migrations: bring a database to the newest schema, or tell how far behind it is."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from notifier.errors import SchemaError
from notifier.store.engine import Database


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(files("notifier.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this version of the notifier ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migration"
    return head


def known_revisions() -> frozenset[str]:
    """Every migration this version of the notifier ships."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(script.revision for script in scripts.walk_revisions())


def refuse_newer(current: str | None) -> None:
    """SchemaError when the database is at a migration this version does not ship: a newer
    version upgraded it, and this one can neither run on it nor migrate it."""
    if current is None or current in known_revisions():
        return
    raise SchemaError(
        f"database schema is at revision {current}, which this version does not know (its "
        f"newest is {head_revision()}): a newer version of the notifier upgraded it; run that "
        "version, or restore the backup taken before the upgrade"
    )


async def current_revision(database: Database) -> str | None:
    """The migration the database is at, or None for an empty database."""
    async with database.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the database to `revision`; return the revisions before and after. A database
    upgraded by a newer version is refused (SchemaError), and left as it is."""
    before = await current_revision(database)
    refuse_newer(before)
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
    after = await current_revision(database)
    assert after is not None
    return before, after


async def downgrade(database: Database, revision: str) -> None:
    """Migrate the database back to `revision` (`base` empties it)."""
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def require_current(database: Database) -> None:
    """Refuse to run on a database whose schema is not the newest: say what to run."""
    current = await current_revision(database)
    head = head_revision()
    if current == head:
        return
    refuse_newer(current)
    state = "is empty" if current is None else f"is at revision {current}"
    raise SchemaError(
        f"database schema {state}, this version needs {head}: run `notifier db upgrade` first"
    )
