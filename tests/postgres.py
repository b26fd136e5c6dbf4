"""Throw-away PostgreSQL schemas and databases, for tests and benchmarks that must not touch
other tables."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
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


@asynccontextmanager
async def throwaway_database(url: str, prefix: str) -> AsyncIterator[str]:
    """A database of its own on the server at `url`, named `prefix` and a random suffix,
    dropped on exit (whoever is still connected): its URL, for daemons to connect to."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    finally:
        await admin.dispose()
