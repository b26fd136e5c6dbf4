"""Fixtures of the fault tests: those of the process tests (daemons sharing a database)."""

from __future__ import annotations

from tests.processes.conftest import postgres_database

__all__ = ["postgres_database"]
