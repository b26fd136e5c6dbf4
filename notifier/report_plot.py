"""The cumulative acknowledgement curve of an alert drawn as a PNG (matplotlib's Agg canvas).

A `Figure` of its own on an Agg canvas for each drawing: no display, no pyplot, no state
shared between reports drawn at the same time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDTH_INCHES, HEIGHT_INCHES, DPI = 8.0, 4.5, 100


def curve_png(
    curve: Sequence[tuple[float, int]], recipients: int, title: str, *, dpi: int = DPI
) -> bytes:
    """A step curve of people acknowledged over minutes since the alert, up to `recipients`."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    minutes = [0.0, *(at / 60 for at, _ in curve)]
    counts = [0, *(count for _, count in curve)]
    axes.step(minutes, counts, where="post", color="#1f5fa8", linewidth=1.8)
    if recipients:
        axes.axhline(recipients, color="#888888", linestyle="--", linewidth=1)
        axes.set_ylim(0, recipients * 1.05)
    axes.set_xlim(left=0)
    axes.set_xlabel("minutes after the alert")
    axes.set_ylabel("people acknowledged")
    axes.set_title(title.replace("$", r"\$"), fontsize=11)  # `$` would start mathtext
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
