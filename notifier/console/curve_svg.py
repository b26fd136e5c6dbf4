"""The acknowledgement curve as the points of an SVG polyline, drawn by the server (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 300
"""The drawing's width in SVG units (it scales to the page's width)."""
HEIGHT = 120
"""The drawing's height in SVG units."""
SHORTEST_SPAN = 60.0
"""The least time the horizontal axis spans, in seconds (a first answer is not at the edge)."""


@dataclass(frozen=True, slots=True)
class CurveDrawing:
    """A curve ready for an `<svg>`: its polyline's points and what its axes span."""

    points: str
    span_minutes: float
    acknowledged: int
    recipients: int


def curve_drawing(curve: Sequence[tuple[float, int]], recipients: int) -> CurveDrawing:
    """The polyline of (seconds, acknowledged so far) points, from the alert's raising to its
    last answer, as steps: the count holds until the next answer. The vertical axis is the
    recipients (100 % at the top), the horizontal one the time to the last answer."""
    span = max(SHORTEST_SPAN, curve[-1][0] if curve else 0.0)
    top = max(1, recipients, curve[-1][1] if curve else 0)
    coordinates = [(0.0, 0)]
    for seconds, count in curve:
        coordinates.append((seconds, coordinates[-1][1]))
        coordinates.append((seconds, count))
    coordinates.append((span, coordinates[-1][1]))
    points = " ".join(
        f"{_x(seconds, span):.1f},{_y(count, top):.1f}" for seconds, count in coordinates
    )
    acknowledged = curve[-1][1] if curve else 0
    return CurveDrawing(points, round(span / 60, 1), acknowledged, recipients)


def _x(seconds: float, span: float) -> float:
    return WIDTH * seconds / span


def _y(count: int, top: int) -> float:
    return HEIGHT - HEIGHT * count / top
