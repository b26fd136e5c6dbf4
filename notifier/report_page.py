"""An alert's report as one self-contained HTML page: figures, the curve inline, the lists.

Nothing is fetched when the page is opened: the style is in the page and the curve is a
`data:` image, so it can be mailed or archived as one file. Every text is escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

from notifier.report_formats import cost_text, seconds
from notifier.reports import AlertReport
from notifier.store.tables import Alert

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
img { max-width: 100%; }
"""


def report_html(alert: Alert, report: AlertReport, curve_png: bytes) -> str:
    """The page: the alert, its figures, the curve, stations, failures, people not answered."""
    title = f"Alert {alert.id} ({alert.code}): {alert.title}"
    image = base64.b64encode(curve_png).decode("ascii")
    times = report.time_to_acknowledge
    figures = [
        ("kind, severity", f"{alert.kind}, {alert.severity}"),
        ("raised", f"{alert.created_at:%Y-%m-%d %H:%M:%S} UTC by {alert.created_by}"),
        ("status", alert.status),
        ("recipients", str(report.recipients)),
        ("reached", str(report.reached_any)),
        *(
            (f"{channel}", f"{r.sent} sent, {r.delivered} delivered, {r.failed} failed")
            for channel, r in report.reached.items()
        ),
        ("acknowledged", f"{report.acknowledged} ({report.acknowledged_percent}%)"),
        *((f"answered {kind}", str(count)) for kind, count in report.responses.items()),
        ("not answered", str(len(report.not_answered))),
        ("time to acknowledge", f"p50 {_s(times.p50)}, p90 {_s(times.p90)}, p99 {_s(times.p99)}"),
    ]
    if report.costs is not None:
        figures.append(("cost", cost_text(report.costs)))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(alert.message)}</p>",
        html_table(("figure", "value"), figures),
        "<h2>Acknowledged over time</h2>",
        f'<img alt="people acknowledged over time" src="data:image/png;base64,{image}">',
        "<h2>By station</h2>",
        html_table(
            ("station", "recipients", "acknowledged", "p50", "p90"),
            (
                (row.station, str(row.recipients), str(row.acknowledged), _s(row.p50), _s(row.p90))
                for row in report.by_station
            ),
        ),
        "<h2>Failures</h2>",
        html_table(("reason", "messages"), ((reason, str(n)) for reason, n in report.failures)),
        f"<h2>Not answered ({len(report.not_answered)})</h2>",
        html_table(
            ("person_id", "name", "station", "phone", "e-mail"),
            (
                (p.person_id, p.name, p.station, p.phone or "", p.email or "")
                for p in report.not_answered
            ),
        ),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def html_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table of escaped text: a header row, then the rows."""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _s(value: float | None) -> str:
    shown = seconds(value)
    return "-" if shown is None else f"{shown} s"
