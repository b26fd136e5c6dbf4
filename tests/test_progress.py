"""The arithmetic of time left: configured rate against observed progress, and its wording."""

from __future__ import annotations

import pytest

from notifier.progress import (
    Estimate,
    Sample,
    describe,
    estimate,
    format_duration,
    format_rate,
    observed_rate,
    recent,
    stalled,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-3, "0s"),
        (0.2, "1s"),
        (45, "45s"),
        (59.5, "1m00s"),
        (200, "3m20s"),
        (605, "10m05s"),
        (3599.5, "1h00m"),
        (3900, "1h05m"),
        (3901, "1h06m"),
        (30 * 3600, "30h00m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Durations read 45s, 3m20s, 1h05m, rounded up so that the time left is not understated."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("rate", "text"),
    [(10, "10"), (10.0, "10"), (9.8, "9.8"), (9.96, "10"), (0.5, "0.5"), (1, "1"), (2000, "2000")],
)
def test_format_rate(rate: float, text: str) -> None:
    """Rates show one decimal below ten a second and whole numbers from ten up."""
    assert format_rate(rate) == text


@pytest.mark.parametrize(
    ("samples", "now", "rate"),
    [
        ([], 10.0, None),
        ([(10.0, 5)], 10.0, None),
        ([(9.0, 0), (10.0, 10)], 10.0, None),  # one second is too short to tell
        ([(0.0, 0), (5.0, 49)], 5.0, 9.8),
        ([(0.0, 0), (2.5, 10), (5.0, 49)], 5.0, 9.8),
        ([(0.0, 7), (4.0, 7)], 4.0, 0.0),
        ([(0.0, 0), (20.0, 100), (30.0, 120)], 30.0, 2.0),  # only the last ten seconds count
        ([(0.0, 0), (3.0, 30)], 20.0, None),  # nothing recent
    ],
)
def test_observed_rate(samples: list[Sample], now: float, rate: float | None) -> None:
    """The observed rate is the progress of the last ten seconds, once two seconds are seen."""
    assert observed_rate(samples, now) == (pytest.approx(rate) if rate is not None else None)


@pytest.mark.parametrize(
    ("remaining", "rate_limit", "samples", "text"),
    [
        (0, 10.0, [], "done"),
        (0, 10.0, [(0.0, 0), (5.0, 0)], "done"),
        (2000, 10.0, [], "rate limit ~3m20s at 10/s"),
        (
            2000,
            10.0,
            [(0.0, 0), (5.0, 49)],
            "rate limit ~3m20s at 10/s; observed 9.8/s (at the limit)",
        ),
        (2000, 10.0, [(0.0, 0), (5.0, 10)], "rate limit ~3m20s at 10/s; observed 2/s, ~16m40s"),
        (2000, 10.0, [(0.0, 0), (5.0, 100)], "rate limit ~3m20s at 10/s; observed 20/s, ~1m40s"),
        (2000, 10.0, [(0.0, 3), (5.0, 3)], "rate limit ~3m20s at 10/s; observed 0/s (no progress)"),
        (45, 50.0, [], "rate limit ~1s at 50/s"),
        (7, 0.5, [], "rate limit ~14s at 0.5/s"),
    ],
)
def test_describe_estimate(
    remaining: int, rate_limit: float, samples: list[Sample], text: str
) -> None:
    """Time left at the rate limit, and the observed rate: at the limit, slower, faster, stalled."""
    assert describe(estimate(remaining, rate_limit, samples, now=5.0)) == text


def test_estimate_seconds() -> None:
    """Remaining deliveries divided by the configured and by the observed rate; none at zero."""
    assert Estimate(600, 10.0, 5.0).limit_seconds == 60.0
    assert Estimate(600, 10.0, 5.0).observed_seconds == 120.0
    assert Estimate(600, 10.0, 0.0).observed_seconds is None
    assert Estimate(600, 10.0, None).observed_seconds is None
    assert Estimate(0, 10.0, 0.0).limit_seconds == 0.0
    assert estimate(-1, 10.0, [], now=0.0).remaining == 0


@pytest.mark.parametrize(
    ("observed", "at_limit"),
    [
        (None, False),
        (0.0, False),
        (8.9, False),
        (9.0, True),
        (10.0, True),
        (11.0, True),
        (11.1, False),
    ],
)
def test_at_limit_within_ten_percent(observed: float | None, at_limit: bool) -> None:
    """An observed rate within 10 % of the configured one is the rate limit setting the pace."""
    assert Estimate(100, 10.0, observed).at_limit is at_limit


@pytest.mark.parametrize(
    ("samples", "now", "is_stalled"),
    [
        ([], 30.0, False),
        ([(15.0, 4), (30.0, 4)], 30.0, False),  # not yet watched for twenty seconds
        ([(5.0, 4), (15.0, 4), (30.0, 4)], 30.0, True),
        ([(5.0, 4), (15.0, 5), (30.0, 5)], 30.0, False),
        ([(5.0, 4), (10.0, 5), (30.0, 5)], 30.0, True),  # moved, then nothing for 20s
    ],
)
def test_stalled(samples: list[Sample], now: float, is_stalled: bool) -> None:
    """A count that has not moved for the quiet period is a stall; a shorter watch tells nothing."""
    assert stalled(samples, now, quiet=20.0) is is_stalled


def test_recent_keeps_the_last_seconds() -> None:
    """Samples older than the period kept are dropped, the rest kept in order."""
    assert recent([(0.0, 1), (5.0, 2), (9.0, 3)], now=10.0, seconds=5.0) == ((5.0, 2), (9.0, 3))
