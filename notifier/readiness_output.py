"""A station's readiness report rendered in a named format, as bytes with their media type."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from notifier.readiness import StationReport
from notifier.readiness_formats import readiness_json, readiness_lines
from notifier.readiness_page import readiness_html


class ReadinessFormat(StrEnum):
    """The formats a station's readiness is given in."""

    TEXT = "text"
    JSON = "json"
    HTML = "html"


MEDIA_TYPES = {
    ReadinessFormat.TEXT: "text/plain; charset=utf-8",
    ReadinessFormat.JSON: "application/json",
    ReadinessFormat.HTML: "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class RenderedReadiness:
    """A readiness report ready to be written or sent."""

    content: bytes
    media_type: str


def render_readiness(report: StationReport, format_: ReadinessFormat) -> RenderedReadiness:
    """The report in `format_`."""
    if format_ is ReadinessFormat.JSON:
        text = json.dumps(readiness_json(report), ensure_ascii=False, indent=2) + "\n"
    elif format_ is ReadinessFormat.HTML:
        text = readiness_html(report, _trend(report))
    else:
        text = "".join(f"{line}\n" for line in readiness_lines(report))
    return RenderedReadiness(text.encode("utf-8"), MEDIA_TYPES[format_])


def _trend(report: StationReport) -> bytes:
    # Imported here: plotting takes half a second to load, which no other format should pay.
    from notifier.readiness_plot import trend_png

    station = report.station
    return trend_png(report.facts.drills, f"Drills of {station.code} ({station.name})")
