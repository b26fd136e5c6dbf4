"""A station's readiness as one self-contained HTML page: level, criteria, drills, trend, costs.

Nothing is fetched when the page is opened: the style is in the page and the trend plot is a
`data:` image, so it can be mailed or archived as one file. Every text is escaped.
"""

from __future__ import annotations

import base64
from html import escape

from notifier.costs import shown_amount
from notifier.readiness import StationReport, number, yearly
from notifier.readiness_formats import p90_text, roster_line
from notifier.report_page import html_table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
.met { color: #1e7b34; } .missed { color: #b03a2e; font-weight: bold; }
img { max-width: 100%; }
"""


def readiness_html(report: StationReport, trend_png: bytes) -> str:
    """The page: the station's level, every criterion, the drills and their trend, the costs."""
    station, readiness, facts = report.station, report.readiness, report.facts
    title = f"Readiness of {station.code} ({station.name}): level {readiness.level} of 5"
    image = base64.b64encode(trend_png).decode("ascii")
    criteria = "\n".join(
        f'<li class="{"met" if c.met else "missed"}">'
        f"{'met' if c.met else 'missed'}: level {c.level}: {escape(c.text)}</li>"
        for c in readiness.criteria
    )
    currency = escape(report.currency)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(station.country)}, {escape(station.timezone)}; judged over "
        f"{readiness.window_start:%Y-%m-%d} to {readiness.now:%Y-%m-%d} (UTC)</p>",
        f"<h2>Criteria</h2><ul>\n{criteria}\n</ul>",
        "<h2>Drills over the months</h2>",
        f'<img alt="acknowledged % and p90 per drill" src="data:image/png;base64,{image}">',
        html_table(
            ("drill (UTC)", "alert", "recipients", "acknowledged", "%", "p90"),
            (
                (
                    f"{drill.created_at:%Y-%m-%d %H:%M}",
                    str(drill.alert_id),
                    str(drill.recipients),
                    str(drill.acknowledged),
                    number(drill.acknowledged_percent),
                    p90_text(drill.p90),
                )
                for drill in facts.drills
            ),
        ),
        "<h2>Roster</h2>",
        f"<p>{escape(roster_line(report))}</p>",
        f"<h2>Cost ({currency})</h2>",
        html_table(
            ("month (UTC)", "cost", "messages", "without a price"),
            (
                (m.month, shown_amount(m.micros), str(m.messages), str(m.unpriced))
                for m in report.costs
            ),
        ),
        html_table(("year", "cost"), ((year, shown_amount(v)) for year, v in yearly(report.costs))),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
