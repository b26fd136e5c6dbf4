"""API tokens in use: revoked ones refused at once by every replica, their last use kept cheaply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlmodel import col

from notifier.domain import Role
from notifier.store import tokens
from notifier.store.engine import Database, create_engine, is_sqlite
from notifier.store.tables import ApiToken
from notifier.web.app import create_app
from tests.clock import HandClock

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ALERTS = "/api/v1/alerts"


def _client(database: Database, clock: HandClock | None = None) -> httpx.AsyncClient:
    app = create_app(database, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def _replica(database: Database) -> AsyncIterator[Database]:
    """Another engine on the same database (and, on PostgreSQL, the same schema)."""
    url = database.engine.url.render_as_string(hide_password=False)
    options: dict[str, Any] = {}
    if not is_sqlite(database.engine):
        async with database.engine.connect() as connection:
            schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
        options["connect_args"] = {"server_settings": {"search_path": schema}}
    other = Database(create_engine(url, **options))
    try:
        yield other
    finally:
        await other.close()


async def _last_used(database: Database, name: str) -> datetime | None:
    async with database.session(read_only=True) as session:
        query = select(col(ApiToken.last_used_at)).where(col(ApiToken.name) == name)
        moment: datetime | None = (await session.execute(query)).scalar_one()
    return moment


async def test_a_revoked_token_is_refused_at_once_by_every_replica(database: Database) -> None:
    """Two app instances on one database: after a revocation both answer the token 401."""
    async with database.session() as session:
        token = await tokens.create_token(session, "ops", Role.ADMIN, (), actor="test")
    async with (
        _replica(database) as other,
        _client(database) as first,
        _client(other) as second,
    ):
        for replica in (first, second):
            assert (await replica.get(ALERTS, headers=_bearer(token))).status_code == 200
        async with other.session() as session:
            assert await tokens.revoke_token(session, "ops", NOW, actor="test") is None
        for replica in (second, first):
            answer = await replica.get(ALERTS, headers=_bearer(token))
            assert answer.status_code == 401, answer.text


async def test_last_use_is_written_at_most_once_a_minute(database: Database) -> None:
    """Requests within a minute of the recorded use leave it; the first one after moves it."""
    async with database.session() as session:
        token = await tokens.create_token(session, "viewer", Role.VIEWER, (), actor="test")
    clock = HandClock(NOW)
    async with _client(database, clock) as client:
        assert await _last_used(database, "viewer") is None
        seen = []
        for seconds in (0, 1, 30, 60, 61, 90, 121, 122):
            clock.at = NOW + timedelta(seconds=seconds)
            assert (await client.get(ALERTS, headers=_bearer(token))).status_code == 200
            seen.append(await _last_used(database, "viewer"))
    written = [NOW + timedelta(seconds=seconds) for seconds in (0, 0, 0, 0, 61, 61, 61, 122)]
    assert seen == written
