"""The report's arithmetic over plain values, and its CSV, HTML and PNG renderings."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from notifier.report_formats import CSV_COLUMNS
from notifier.report_output import ReportFormat, render
from notifier.reports import (
    RecipientFacts,
    acknowledgement_curve,
    alert_report,
    nearest_rank,
    percentile,
)
from notifier.store.tables import Alert

RAISED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _alert(title: str = "Earthquake") -> Alert:
    return Alert(
        id=7, code="ABCD", kind="emergency", severity="severe", title=title,
        message="Leave <now>.", status="dispatched", created_by="officer",
        audience={"scope": ["NBO"], "stations": ["NBO"]}, channels=["sms", "email"],
        created_at=RAISED,
    )  # fmt: skip


def _person(
    index: int, name: str = "", after: float | None = None, states: tuple[str | None, ...] = ()
) -> RecipientFacts:
    return RecipientFacts(
        person_id=f"N{index:05d}", name=name or f"Person {index}", station="NBO",
        phone=f"+2547200000{index:02d}", email=f"n{index}@example.org",
        response=None if after is None else "safe",
        first_response_at=None if after is None else RAISED + timedelta(seconds=after),
        channel_states=states,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fraction", "count", "rank"),
    [
        (0.5, 1, 1),
        (0.5, 2, 1),
        (0.5, 9, 5),
        (0.9, 9, 9),
        (0.9, 10, 9),
        (0.99, 100, 99),
        (0.0, 5, 1),
    ],
)
def test_nearest_rank(fraction: float, count: int, rank: int) -> None:
    """The nearest rank is the ceiling of fraction times count, at least 1."""
    assert nearest_rank(fraction, count) == rank


def test_percentile_of_nothing_is_none() -> None:
    """No answers, no percentile."""
    assert percentile([], 0.5) is None
    assert percentile([3.0, 5.0, 9.0], 0.5) == 5.0


def test_curve_merges_equal_times_and_thins_to_the_limit() -> None:
    """One point per distinct time; past the limit, evenly chosen points keep first and last."""
    assert acknowledgement_curve([1.0, 1.0, 4.0]) == [(1.0, 2), (4.0, 3)]
    curve = acknowledgement_curve([float(second) for second in range(3600)], points=500)
    assert len(curve) == 500
    assert curve[0] == (0.0, 1) and curve[-1] == (3599.0, 3600)
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(curve))


def test_reach_counts_people_and_failures_merge_by_reason() -> None:
    """Delivered counts as sent; reached is any channel sent; blank reasons are one reason."""
    people = [
        _person(1, states=("delivered", "failed")),
        _person(2, states=("failed", None)),
        _person(3, states=(None, "sent")),
    ]
    report = alert_report(RAISED, people, [("timeout", 1), (None, 2), ("  ", 1)])
    assert (report.reached["sms"].sent, report.reached["sms"].delivered) == (1, 1)
    assert report.reached["sms"].failed == 1
    assert (report.reached["email"].sent, report.reached["email"].failed) == (1, 1)
    assert report.reached_any == 2
    assert report.failures == [("no reason recorded", 3), ("timeout", 1)]


def test_csv_reads_back_one_row_per_recipient() -> None:
    """The CSV has the documented header and one row per person, a formula-like name defused."""
    report = alert_report(
        RAISED,
        [
            _person(1, after=12.34, states=("delivered", None)),
            _person(2, name="=HYPERLINK(1)", states=(None, "failed")),
        ],
        [("x", 1)],
    )
    content = render(_alert(), report, ReportFormat.CSV).content.decode()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0]["seconds_to_acknowledge"] == "12.3"
    assert rows[0]["acknowledged_at"] == (RAISED + timedelta(seconds=12.34)).isoformat()
    assert (rows[0]["sms_state"], rows[0]["email_state"]) == ("delivered", "")
    assert rows[1]["name"] == "'=HYPERLINK(1)"
    assert (rows[1]["response"], rows[1]["email_state"]) == ("", "failed")


def test_png_is_an_image() -> None:
    """The curve is a PNG that an image library opens, 800 by 450 pixels."""
    report = alert_report(RAISED, [_person(1, after=5), _person(2, after=65)], [])
    content = render(_alert(), report, ReportFormat.PNG).content
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(content)).size == (800, 450)


def test_html_is_self_contained_and_escaped() -> None:
    """No external reference at all; a title and a name holding markup are shown as text."""
    report = alert_report(RAISED, [_person(1, after=5), _person(2, name="<b>Bob</b>")], [])
    alert = _alert("<script>alert(1)</script>")
    page = render(alert, report, ReportFormat.HTML).content.decode()
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Bob&lt;/b&gt;" in page
    assert 'src="data:image/png;base64,iVBORw0KGgo' in page
