"""How long an alert still needs: time left at the configured send rates and as observed (pure).

Times are seconds on a monotonic clock; a sample is `(time, count)` where `count` only grows
(settled deliveries of one channel). Every function takes `now` rather than reading a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Sample = tuple[float, int]
"""At monotonic time `[0]`, `[1]` deliveries of a channel were settled."""

OBSERVATION_SECONDS = 10.0
"""The observed rate is the progress of the last this many seconds."""
MIN_OBSERVATION_SECONDS = 2.0
"""Samples spanning less than this tell no rate yet."""
AT_LIMIT_TOLERANCE = 0.1
"""An observed rate within 10 % of the configured one is the rate limit at work."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """Deliveries left on one channel, its configured rate and, if known, its observed rate."""

    remaining: int
    rate_limit: float
    observed: float | None = None

    @property
    def limit_seconds(self) -> float:
        """Seconds left if the channel sends at its configured rate from now on."""
        return self.remaining / self.rate_limit

    @property
    def observed_seconds(self) -> float | None:
        """Seconds left at the observed rate; None when no rate is observed or it is zero."""
        if not self.observed:
            return None
        return self.remaining / self.observed

    @property
    def at_limit(self) -> bool:
        """Whether the observed rate is the configured one: the provider's limit sets the pace."""
        if self.observed is None:
            return False
        return abs(self.observed - self.rate_limit) <= AT_LIMIT_TOLERANCE * self.rate_limit


def estimate(remaining: int, rate_limit: float, samples: Sequence[Sample], now: float) -> Estimate:
    """The estimate for a channel with `remaining` deliveries queued or sending."""
    return Estimate(max(remaining, 0), rate_limit, observed_rate(samples, now))


def observed_rate(
    samples: Sequence[Sample], now: float, window: float = OBSERVATION_SECONDS
) -> float | None:
    """Deliveries a second over the samples of the last `window` seconds; None if too few."""
    recent = [sample for sample in samples if now - window <= sample[0] <= now]
    if len(recent) < 2:
        return None
    (first_at, first_count), (last_at, last_count) = recent[0], recent[-1]
    if last_at - first_at < MIN_OBSERVATION_SECONDS:
        return None
    return max(last_count - first_count, 0) / (last_at - first_at)


def recent(samples: Sequence[Sample], now: float, seconds: float) -> tuple[Sample, ...]:
    """The samples of the last `seconds` seconds: what a display needs to keep."""
    return tuple(sample for sample in samples if sample[0] >= now - seconds)


def stalled(samples: Sequence[Sample], now: float, quiet: float) -> bool:
    """Whether the count has not moved for at least `quiet` seconds (as far as samples show)."""
    before = [sample for sample in samples if sample[0] <= now - quiet]
    if not before:
        return False
    since = before[-1]
    return all(count == since[1] for at, count in samples if at >= since[0])


def describe(estimate: Estimate) -> str:
    """`rate limit ~3m20s at 10/s; observed 9.8/s (at the limit)`, or `done`."""
    if estimate.remaining == 0:
        return "done"
    text = (
        f"rate limit ~{format_duration(estimate.limit_seconds)} "
        f"at {format_rate(estimate.rate_limit)}/s"
    )
    observed = estimate.observed
    if observed is None:
        return text
    text += f"; observed {format_rate(observed)}/s"
    if estimate.at_limit:
        return text + " (at the limit)"
    seconds = estimate.observed_seconds
    if seconds is None:
        return text + " (no progress)"
    return text + f", ~{format_duration(seconds)}"


def format_duration(seconds: float) -> str:
    """`45s`, `3m20s`, `1h05m`: rounded up, since an estimate of time left should not promise."""
    whole = math.ceil(max(seconds, 0.0))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(math.ceil(whole / 60), 60)
    return f"{hours}h{minutes:02d}m"


def format_rate(rate: float) -> str:
    """`10`, `9.8`, `0.5`: one decimal below ten a second, whole numbers from ten up."""
    rounded = round(rate, 1)
    if rounded >= 10 or rounded == int(rounded):
        return f"{rounded:.0f}"
    return f"{rounded:.1f}"
