"""API tokens in the database: stored hashed, shown once, scoped, checked on use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from notifier.access import Action
from notifier.domain import Role
from notifier.errors import InputError
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.store.tables import ApiToken, AuditEntry, Station


async def _stations(database: Database) -> None:
    async with database.session() as session:
        for code, country, zone in (
            ("NBO", "KE", "Africa/Nairobi"),
            ("GVA", "CH", "Europe/Zurich"),
        ):
            session.add(Station(code=code, name=code, country=country, timezone=zone))


async def test_token_is_stored_hashed_and_resolves_to_its_principal(database: Database) -> None:
    """The database keeps only the digest; the token finds an officer scoped to its stations."""
    await _stations(database)
    async with database.session() as session:
        token = await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO"], actor="test")
    async with database.session() as session:
        stored = (await session.execute(select(col(ApiToken.token_hash)))).scalars().all()
        principal = await tokens.principal_for(session, token)
        actions = (await session.execute(select(col(AuditEntry.action)))).scalars().all()
    assert token not in stored
    assert principal is not None
    assert principal.role is Role.OFFICER
    assert principal.allows(Action.SEND, ["NBO"])
    assert not principal.allows(Action.SEND, ["GVA"])
    assert "token.create" in actions


async def test_unknown_or_revoked_token_resolves_to_nobody(database: Database) -> None:
    """A token that was never issued, or was revoked, is no principal."""
    async with database.session() as session:
        token = await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test")
    async with database.session() as session:
        assert await tokens.principal_for(session, token + "x") is None
        row = (await session.execute(select(ApiToken))).scalars().one()
        row.revoked_at = row.created_at
    async with database.session() as session:
        assert await tokens.principal_for(session, token) is None


@pytest.mark.parametrize(
    ("name", "role", "stations", "message"),
    [
        ("a", Role.OFFICER, [], "an officer token needs the stations"),
        ("a", Role.ADMIN, ["NBO"], "an admin token covers every station"),
        ("a", Role.OFFICER, ["NBO", "XYZ"], "unknown station"),
        ("  ", Role.VIEWER, [], "--name: required"),
    ],
)
async def test_invalid_token_requests(
    database: Database, name: str, role: Role, stations: list[str], message: str
) -> None:
    """Tokens that would be meaningless or dangerous are refused, naming the argument."""
    await _stations(database)
    async with database.session() as session:
        with pytest.raises(InputError, match=message):
            await tokens.create_token(session, name, role, stations, actor="test")


async def test_token_names_are_unique(database: Database) -> None:
    """A second token with the same name is refused, and the first still works."""
    async with database.session() as session:
        first = await tokens.create_token(session, "ops", Role.ADMIN, [], actor="test")
    async with database.session() as session:
        with pytest.raises(InputError, match="exists already"):
            await tokens.create_token(session, "ops", Role.VIEWER, [], actor="test")
    async with database.session() as session:
        assert await tokens.principal_for(session, first) is not None


async def test_use_is_recorded_once_a_minute_even_by_racing_replicas(database: Database) -> None:
    """Two requests seeing the same stale use both try; the conditional UPDATE writes once."""
    async with database.session() as session:
        token = await tokens.create_token(session, "ops", Role.ADMIN, [], actor="test")
    async with database.session(read_only=True) as session:
        first = await tokens.find_token(session, token)
        second = await tokens.find_token(session, token)
    assert first is not None and second is not None
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert first.use_is_due(now) and second.use_is_due(now)
    async with database.session() as session:
        assert await tokens.record_use(session, first.id, now)
    async with database.session() as session:
        assert not await tokens.record_use(session, second.id, now + timedelta(seconds=59))
    async with database.session() as session:
        assert await tokens.record_use(session, second.id, now + timedelta(seconds=61))
