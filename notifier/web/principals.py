"""The principal behind a token's digest, looked up afresh on every request by API and console."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request

from notifier import sources
from notifier.access import Principal
from notifier.store import tokens
from notifier.store.engine import Database


async def principal_by_digest(request: Request, digest: str) -> Principal | None:
    """The principal of the valid token stored under `digest`; None if unknown or revoked.

    Never cached: a revoked token fails at once on every replica. The token's last use is
    written at most once a minute, and the principal's source is the client's address.
    """
    database: Database = request.app.state.database
    async with database.session(read_only=True) as session:
        found = await tokens.find_token_by_digest(session, digest)
    if found is None:
        return None
    now = request.app.state.clock.now()
    if found.use_is_due(now):  # a write at most once a minute per token
        async with database.session() as session:
            await tokens.record_use(session, found.id, now)
    # The client's address as the server saw it; a reverse proxy on this host may name the
    # client in X-Forwarded-For, which uvicorn takes from 127.0.0.1 and ::1 only.
    client = request.client.host if request.client is not None else None
    return replace(found.principal, source=sources.api_client(client))
