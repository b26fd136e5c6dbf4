"""Queries over API tokens: create one, and find the principal behind a presented token."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notifier.access import Principal, new_token, token_digest
from notifier.domain import Role
from notifier.errors import InputError
from notifier.store import audit
from notifier.store.tables import ApiToken, Station
from notifier.store.types import utc_now


async def create_token(
    session: AsyncSession, name: str, role: Role, stations: Collection[str], *, actor: str
) -> str:
    """Store a new token's digest and return the token, which is shown once and never again."""
    name = name.strip()
    if not name:
        raise InputError("--name: required")
    if role is Role.OFFICER and not stations:
        raise InputError("--stations: an officer token needs the stations it may alert")
    if role is Role.ADMIN and stations:
        raise InputError("--stations: an admin token covers every station; leave --stations out")
    known = set((await session.execute(select(col(Station.code)))).scalars())
    unknown = sorted(set(stations) - known)
    if unknown:
        raise InputError(f"--stations: unknown station(s): {', '.join(unknown)}")
    if (await session.execute(select(col(ApiToken.id)).where(col(ApiToken.name) == name))).first():
        raise InputError(f"--name: a token named {name!r} exists already")
    token = new_token()
    session.add(
        ApiToken(
            name=name, token_hash=token_digest(token), role=role.value, stations=sorted(stations)
        )
    )
    audit.record(session, actor, "token.create", name, role=role.value, stations=sorted(stations))
    return token


async def principal_for(session: AsyncSession, token: str) -> Principal | None:
    """The principal a presented token stands for, or None if it is unknown or revoked."""
    query = select(ApiToken).where(col(ApiToken.token_hash) == token_digest(token))
    row = (await session.execute(query)).scalars().first()
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = utc_now()
    return Principal(row.name, Role(row.role), frozenset(row.stations))
