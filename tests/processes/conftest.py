"""Fixtures of the process tests: a PostgreSQL database of their own for daemons to share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.postgres import throwaway_database


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A PostgreSQL database of its own, dropped afterwards (daemons connect to it by URL)."""
    async with throwaway_database(postgres_url, "notifier_process") as url:
        yield url
