"""Queries over API tokens: create, list and revoke them, and find the principal behind one.

A token is looked up in the database on every request, with no cache: a revoked token is
refused at once by every replica. Its `last_used_at` is written at most once a
`LAST_USED_RESOLUTION` per token, by a conditional UPDATE, so a burst of requests costs reads
only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notifier.access import Principal, new_token, token_digest
from notifier.domain import Role
from notifier.errors import InputError, NotFoundError
from notifier.store import audit
from notifier.store.tables import ApiToken, Station
from notifier.store.types import utc_now

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""How stale a token's `last_used_at` may be: it is written at most this often."""


@dataclass(frozen=True, slots=True)
class KnownToken:
    """A valid token found by its digest: its row's id, its principal, when it was last used."""

    id: int
    principal: Principal
    last_used_at: datetime | None

    def use_is_due(self, now: datetime) -> bool:
        """Whether `last_used_at` is old enough to be written again at `now`."""
        return self.last_used_at is None or self.last_used_at < now - LAST_USED_RESOLUTION


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """A token as `token list` shows it; never the token itself, which is not kept."""

    name: str
    role: str
    stations: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def create_token(
    session: AsyncSession,
    name: str,
    role: Role,
    stations: Collection[str],
    *,
    actor: str,
    source: str = "",
) -> str:
    """Store a new token's digest and return the token, which is shown once and never again.

    Audited as created by `actor` from `source` (`notifier.sources`).
    """
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
    audit.record(
        session,
        actor,
        "token.create",
        name,
        source=source,
        role=role.value,
        stations=sorted(stations),
    )
    return token


async def find_token(session: AsyncSession, token: str) -> KnownToken | None:
    """The valid token presented, or None if it is unknown or revoked. Reads only."""
    return await find_token_by_digest(session, token_digest(token))


async def find_token_by_digest(session: AsyncSession, digest: str) -> KnownToken | None:
    """The valid token stored under `digest`, or None if it is unknown or revoked. Reads only."""
    query = select(
        col(ApiToken.id),
        col(ApiToken.name),
        col(ApiToken.role),
        col(ApiToken.stations),
        col(ApiToken.last_used_at),
        col(ApiToken.revoked_at),
    ).where(col(ApiToken.token_hash) == digest)
    row = (await session.execute(query)).first()
    if row is None or row.revoked_at is not None:
        return None
    principal = Principal(row.name, Role(row.role), frozenset(row.stations))
    return KnownToken(row.id, principal, row.last_used_at)


async def record_use(session: AsyncSession, token_id: int, now: datetime) -> bool:
    """Set the token's `last_used_at` to `now` unless another request did within the minute.

    The condition is in the UPDATE itself, so replicas racing on one token write it once.
    """
    statement = (
        update(ApiToken)
        .where(col(ApiToken.id) == token_id)
        .where(
            or_(
                col(ApiToken.last_used_at).is_(None),
                col(ApiToken.last_used_at) < now - LAST_USED_RESOLUTION,
            )
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def principal_for(
    session: AsyncSession, token: str, now: datetime | None = None
) -> Principal | None:
    """The principal a presented token stands for, or None if it is unknown or revoked.

    Records the use (at most once a minute) in the same session.
    """
    found = await find_token(session, token)
    if found is None:
        return None
    now = now or utc_now()
    if found.use_is_due(now):
        await record_use(session, found.id, now)
    return found.principal


async def list_tokens(session: AsyncSession) -> list[TokenEntry]:
    """Every token, revoked ones included, by name."""
    rows = (await session.execute(select(ApiToken).order_by(col(ApiToken.name)))).scalars()
    return [
        TokenEntry(
            row.name,
            row.role,
            list(row.stations),
            row.created_at,
            row.last_used_at,
            row.revoked_at,
        )
        for row in rows
    ]


async def revoke_token(
    session: AsyncSession, name: str, now: datetime, *, actor: str, source: str = ""
) -> datetime | None:
    """Revoke the token named `name` from `now` on; None if it was, or the time it already was.

    NotFoundError if no token has that name. Audited as revoked by `actor` from `source`.
    """
    row = (
        (await session.execute(select(ApiToken).where(col(ApiToken.name) == name)))
        .scalars()
        .first()
    )
    if row is None:
        raise NotFoundError(f"NAME: no token is named {name!r} (see `notifier token list`)")
    if row.revoked_at is not None:
        return row.revoked_at
    row.revoked_at = now
    audit.record(
        session, actor, "token.revoke", name, source=source, role=row.role, stations=row.stations
    )
    return None
