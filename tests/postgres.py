"""A throw-away PostgreSQL schema, for tests and benchmarks that must not touch other tables."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from notifier.store.engine import Database, create_engine


@asynccontextmanager
async def throwaway_schema(url: str, prefix: str) -> AsyncIterator[Database]:
    """A database whose connections use a new schema of their own, dropped on exit."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f"CREATE SCHEMA {name}"))
    engine = create_engine(url, connect_args={"server_settings": {"search_path": name}})
    try:
        yield Database(engine)
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP SCHEMA {name} CASCADE"))
        await admin.dispose()
