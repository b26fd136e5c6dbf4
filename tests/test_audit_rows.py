"""The audit log's export format: CSV that reads back, with no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from notifier.audit_rows import CSV_COLUMNS, csv_header, csv_rows, entry_json, parse_since
from notifier.csv_cells import cell
from notifier.errors import FieldError
from notifier.store.audit import LoggedAction

NAIROBI = timezone(timedelta(hours=3))
ENTRY = LoggedAction(
    id=7,
    at=datetime(2026, 12, 2, 15, 20, 43, 512000, tzinfo=NAIROBI),
    actor='=HYPERLINK("http://x")',
    source="api 203.0.113.7",
    action="token.create",
    target="+254 board",
    details={"stations": ["NBO"], "role": "viewer", "note": 'Genève, "B"\nline'},
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+41 79", "'+41 79"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Nairobi", "Nairobi"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_like_cells_are_neutralised(text: str, shown: str) -> None:
    """A cell starting as a formula would gets a leading quote; any other is unchanged."""
    assert cell(text) == shown


def test_csv_reads_back_with_the_csv_module() -> None:
    """Header and row parse back: time in UTC, compact sorted JSON, formula-like cells quoted."""
    rows = list(csv.reader(io.StringIO(csv_header() + csv_rows([ENTRY]))))
    assert rows == [
        list(CSV_COLUMNS),
        [
            "2026-12-02T12:20:43.512000+00:00",
            '\'=HYPERLINK("http://x")',
            "api 203.0.113.7",
            "token.create",
            "'+254 board",
            '{"note":"Genève, \\"B\\"\\nline","role":"viewer","stations":["NBO"]}',
        ],
    ]


def test_json_entry_keeps_values_as_they_are() -> None:
    """The API's JSON gives the id for paging, the time in UTC, and unaltered text."""
    assert entry_json(ENTRY) == {
        "id": 7,
        "at": "2026-12-02T12:20:43.512000+00:00",
        "actor": ENTRY.actor,
        "source": "api 203.0.113.7",
        "action": "token.create",
        "target": "+254 board",
        "details": ENTRY.details,
    }


def test_since_is_midnight_utc() -> None:
    """A date is the start of that day in UTC."""
    assert parse_since("2026-02-28") == datetime(2026, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "20260201", "2026-2-1", "", "today"])
def test_a_bad_since_names_the_field(text: str) -> None:
    """Anything but a real YYYY-MM-DD date is refused, naming the field asked for."""
    with pytest.raises(FieldError) as raised:
        parse_since(text, "--since")
    assert raised.value.field == "--since"
    assert "YYYY-MM-DD" in raised.value.reason
