"""A station's drills over the months drawn as a PNG: acknowledged % and p90 per drill.

A `Figure` of its own on matplotlib's Agg canvas for each drawing, as `report_plot` does: no
display, no pyplot, no state shared between drawings. Import this module only to draw: loading
matplotlib takes a while that no other command should pay.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from notifier.readiness import DrillFacts

WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 4.5, 100
ACKNOWLEDGED_COLOUR, P90_COLOUR = "#1f5fa8", "#c0392b"


def trend_png(drills: Sequence[DrillFacts], title: str, *, dpi: int = DPI) -> bytes:
    """Acknowledged % (left axis) and p90 minutes (right axis) of each drill, by its date."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    times = _dates(drills)
    axes.plot(
        times,
        [drill.acknowledged_percent for drill in drills],
        marker="o",
        color=ACKNOWLEDGED_COLOUR,
        label="acknowledged %",
    )
    axes.set_ylim(0, 105)
    axes.set_ylabel("acknowledged %", color=ACKNOWLEDGED_COLOUR)
    answered = [drill for drill in drills if drill.p90 is not None]
    minutes = axes.twinx()
    minutes.plot(
        _dates(answered),
        [(drill.p90 or 0.0) / 60 for drill in answered],
        marker="s",
        linestyle="--",
        color=P90_COLOUR,
        label="p90 (minutes)",
    )
    longest = max((drill.p90 or 0.0) / 60 for drill in answered) if answered else 0.0
    minutes.set_ylim(0, longest * 1.2 or 1.0)
    minutes.set_ylabel("p90 time to acknowledge (minutes)", color=P90_COLOUR)
    if not drills:
        axes.text(0.5, 0.5, "no drill in the window", ha="center", transform=axes.transAxes)
    axes.set_title(title.replace("$", r"\$"), fontsize=11)  # `$` would start mathtext
    axes.grid(True, alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _dates(drills: Sequence[DrillFacts]) -> NDArray[np.datetime64]:
    """The drills' times as numpy datetimes in UTC, which matplotlib draws on a date axis."""
    return np.array([drill.created_at.replace(tzinfo=None) for drill in drills], "datetime64[s]")
