"""Fixtures of the store's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from notifier.store.engine import Database
from tests import migrated


@pytest.fixture
async def asyncpg_database(postgres_url: str, migrated_postgres: str) -> AsyncIterator[Database]:
    """A PostgreSQL database at the newest schema, through asyncpg, for tests of that server
    alone (mark them `postgres`)."""
    async with migrated.copied_postgres_database(postgres_url, migrated_postgres) as database:
        yield database
