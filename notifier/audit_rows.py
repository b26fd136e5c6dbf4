"""The audit log as it is exported: CSV rows and JSON objects, and the `since` date that filters it.

Pure: entries in, text or values out. Every text cell of the CSV goes through `csv_cells.cell`,
since actors, targets and details hold names that people typed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from notifier.csv_cells import cell
from notifier.errors import FieldError
from notifier.store.audit import LoggedAction

CSV_COLUMNS = ("at", "actor", "source", "action", "target", "details")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_since(text: str, field: str = "since") -> datetime:
    """Midnight UTC at the start of the day `YYYY-MM-DD`; FieldError naming `field` otherwise."""
    problem = f"expected a date as YYYY-MM-DD, got {text!r}"
    if not _DATE.fullmatch(text):
        raise FieldError(field, problem)
    try:
        day = date.fromisoformat(text)
    except ValueError:  # 2026-02-30, month 13
        raise FieldError(field, problem) from None
    return datetime.combine(day, time(), tzinfo=UTC)


def csv_header() -> str:
    """The CSV's first line: the column names."""
    return _csv_text([CSV_COLUMNS])


def csv_rows(entries: Iterable[LoggedAction]) -> str:
    """The entries as CSV lines, in the order given."""
    return _csv_text(
        [
            cell(at_text(entry.at)),
            cell(entry.actor),
            cell(entry.source),
            cell(entry.action),
            cell(entry.target),
            cell(details_text(entry.details)),
        ]
        for entry in entries
    )


def entry_json(entry: LoggedAction) -> dict[str, Any]:
    """One entry as the API gives it; `id` is the cursor for the next page (`after`)."""
    return {
        "id": entry.id,
        "at": at_text(entry.at),
        "actor": entry.actor,
        "source": entry.source,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
    }


def at_text(at: datetime) -> str:
    """A moment in ISO 8601, in UTC: `2026-12-02T12:20:43.512000+00:00`."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def details_text(details: dict[str, Any]) -> str:
    """The details as compact JSON, keys sorted, text kept as written (not \\u-escaped)."""
    return json.dumps(details, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _csv_text(rows: Iterable[Iterable[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()
