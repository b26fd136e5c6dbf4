"""One alert's report rendered in a named format, as bytes with their media type."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from notifier.report_formats import report_csv, report_json, report_lines
from notifier.report_page import report_html
from notifier.reports import AlertReport
from notifier.store.tables import Alert


class ReportFormat(StrEnum):
    """The formats a report is given in."""

    TEXT = "text"
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    PNG = "png"


MEDIA_TYPES = {
    ReportFormat.TEXT: "text/plain; charset=utf-8",
    ReportFormat.JSON: "application/json",
    ReportFormat.CSV: "text/csv; charset=utf-8",
    ReportFormat.HTML: "text/html; charset=utf-8",
    ReportFormat.PNG: "image/png",
}


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """A report ready to be written or sent."""

    content: bytes
    media_type: str


def render(alert: Alert, report: AlertReport, format_: ReportFormat) -> RenderedReport:
    """The report of `alert` in `format_`."""
    media_type = MEDIA_TYPES[format_]
    if format_ is ReportFormat.PNG:
        return RenderedReport(_curve(alert, report), media_type)
    if format_ is ReportFormat.JSON:
        text = json.dumps(report_json(alert, report), ensure_ascii=False, indent=2) + "\n"
    elif format_ is ReportFormat.CSV:
        text = report_csv(report)
    elif format_ is ReportFormat.HTML:
        text = report_html(alert, report, _curve(alert, report))
    else:
        text = "".join(f"{line}\n" for line in report_lines(alert, report))
    return RenderedReport(text.encode("utf-8"), media_type)


def _curve(alert: Alert, report: AlertReport) -> bytes:
    # Imported here: plotting takes half a second to load, which no other command should pay.
    from notifier.report_plot import curve_png

    title = f"alert {alert.id} ({alert.code}): {report.acknowledged} of {report.recipients}"
    return curve_png(report.curve, report.recipients, title)
