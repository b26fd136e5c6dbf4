"""`notifier demo`: the embedded database with the sample stations and rosters, served."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from notifier.daemon import serve
from notifier.domain import Role
from notifier.errors import InputError
from notifier.roster_import import import_roster, import_stations
from notifier.settings import MIN_SECRET_KEY_LENGTH, Settings
from notifier.store import schema, tokens
from notifier.store.engine import Database


def run(settings: Settings, *, contacts: Path, actor: str) -> int:
    """Prepare the demo database, print how to use it, and serve with console channels."""
    settings = demo_settings(settings)
    token = asyncio.run(prepare(settings, contacts, actor))
    print(
        f"demo: serving on {settings.http.public_url} (health: {settings.http.public_url}/healthz)"
    )
    print(f"demo: admin API token {token}")
    print("demo: messages go to the log (console channels); stop with Ctrl-C")
    return serve(settings)


def demo_settings(settings: Settings) -> Settings:
    """The settings with console channels, and a throw-away secret key if none is set."""
    secret = settings.security.secret_key.get_secret_value()
    security = settings.security
    if len(secret) < MIN_SECRET_KEY_LENGTH:
        # model_copy does not validate: the value must already be what the field holds.
        security = security.model_copy(update={"secret_key": SecretStr(secrets.token_urlsafe(32))})
    return settings.model_copy(
        update={
            "security": security,
            "email": settings.email.model_copy(update={"backend": "console"}),
            "sms": settings.sms.model_copy(update={"backend": "console"}),
        }
    )


async def prepare(settings: Settings, contacts: Path, actor: str) -> str:
    """Migrate, import `stations.csv` and every `roster-*` file; return a new admin token."""
    stations = contacts / "stations.csv"
    if not stations.is_file():
        raise InputError(
            f"--contacts: {stations} not found; run from the repository or pass --contacts DIR"
        )
    async with Database.open(settings.database.url) as database:
        await schema.upgrade(database)
        changes = await import_stations(database, stations, actor=actor)
        print(f"demo: stations {changes.added} added, {changes.changed} changed")
        for roster in sorted(contacts.glob("roster-*")):  # noqa: ASYNC240 (a handful of names)
            plan = await import_roster(database, roster, actor=actor)
            print(f"demo: {roster.name}: {len(plan.added)} added, {len(plan.changed)} changed")
        async with database.session() as session:
            name = f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
            return await tokens.create_token(session, name, Role.ADMIN, (), actor=actor)
