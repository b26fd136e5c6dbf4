"""Fixtures of the fault tests: those of the process tests (daemons sharing a database), and
an empty database of either backend for daemons to share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.postgres import throwaway_database
from tests.processes.conftest import postgres_database

__all__ = ["database_url", "postgres_database"]


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of the backend the test names (parametrised
    indirectly with "sqlite" or "postgresql"): a file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
        return
    server = str(request.getfixturevalue("postgres_url"))
    async with throwaway_database(server, "notifier_faults") as url:
        yield url
