"""The acknowledgement curve's SVG polyline, drawn from the report's curve."""

from __future__ import annotations

import pytest

from notifier.console.curve_svg import HEIGHT, WIDTH, curve_drawing


def _points(text: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in text.split())]


def test_steps_from_the_raising_to_the_last_answer() -> None:
    """Each answer is a step up; the horizontal axis ends at the last answer."""
    drawing = curve_drawing([(60.0, 1), (120.0, 3)], recipients=4)
    assert _points(drawing.points) == [
        (0.0, HEIGHT),
        (WIDTH / 2, HEIGHT),
        (WIDTH / 2, HEIGHT * 3 / 4),
        (WIDTH, HEIGHT * 3 / 4),
        (WIDTH, HEIGHT / 4),
        (WIDTH, HEIGHT / 4),
    ]
    assert (drawing.span_minutes, drawing.acknowledged, drawing.recipients) == (2.0, 3, 4)


@pytest.mark.parametrize(
    ("curve", "recipients", "last"),
    [
        ([], 0, (WIDTH, HEIGHT)),  # no answer, no recipient yet: a flat line at zero
        ([(5.0, 1)], 1, (WIDTH, 0.0)),  # early answers do not sit at the right edge
        ([(30.0, 2)], 1, (WIDTH, 0.0)),  # more answers than listed recipients stay in frame
    ],
)
def test_edges(curve: list[tuple[float, int]], recipients: int, last: tuple[float, float]) -> None:
    """Empty curves, early answers and a growing audience stay inside the drawing."""
    points = _points(curve_drawing(curve, recipients).points)
    assert points[-1] == last
    assert all(0 <= x <= WIDTH and 0 <= y <= HEIGHT for x, y in points)
    assert points[0] == (0.0, HEIGHT)
