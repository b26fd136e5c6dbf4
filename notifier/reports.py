"""The arithmetic of an alert's report, over plain values: reach, answers, percentiles, curve.

Times to acknowledge are seconds from the alert's creation to each person's first answer;
percentiles are nearest-rank, as the alert's own view gives them. Reading the store and
drawing the curve stay at the edge (`store.report_data`, `report_plot`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from notifier.costs import MessageCosts
from notifier.domain import Channel, DeliveryStatus, ResponseKind

CURVE_POINTS = 500
"""The most points of an acknowledgement curve; a larger alert's curve is thinned to this."""
NO_REASON = "no reason recorded"
STATE_RANK = {
    status.value: rank
    for rank, status in enumerate(
        (
            DeliveryStatus.DELIVERED,
            DeliveryStatus.SENT,
            DeliveryStatus.SENDING,
            DeliveryStatus.QUEUED,
            DeliveryStatus.FAILED,
            DeliveryStatus.CANCELLED,
        )
    )
}
"""A person's state on a channel is the best any of their messages on it reached (lowest)."""
CHANNELS = tuple(channel.value for channel in Channel)
LEFT = frozenset((DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value))


def nearest_rank(fraction: float, count: int) -> int:
    """The 1-based rank of the `fraction` percentile among `count` ordered values."""
    return max(1, math.ceil(fraction * count))


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of values already in ascending order; None if none."""
    if not ordered:
        return None
    return ordered[nearest_rank(fraction, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    """One person the alert reached: who, where, their answer, and their state on each channel
    (in `CHANNELS` order; None when no message went on it)."""

    person_id: str
    name: str
    station: str
    phone: str | None
    email: str | None
    response: str | None
    first_response_at: datetime | None
    channel_states: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Seconds to acknowledge at the 50th, 90th and 99th percentiles; None before any answer."""

    p50: float | None
    p90: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class Reach:
    """People per state of one channel: sent (left, delivered or not), delivered, failed."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class StationFigures:
    """One station's share of the alert."""

    station: str
    recipients: int
    acknowledged: int
    p50: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class RecipientLine:
    """One recipient's row of the report: their facts and the delay of their first answer."""

    facts: RecipientFacts
    seconds_to_acknowledge: float | None


@dataclass(frozen=True, slots=True)
class AlertReport:
    """Every figure of one alert's report."""

    recipients: int
    reached: dict[str, Reach]
    reached_any: int
    acknowledged: int
    responses: dict[str, int]
    time_to_acknowledge: Percentiles
    by_station: list[StationFigures]
    not_answered: list[RecipientFacts]
    failures: list[tuple[str, int]]
    curve: list[tuple[float, int]]
    lines: list[RecipientLine] = field(default_factory=list)
    costs: MessageCosts | None = None
    """What its messages cost; None when they were not read."""

    @property
    def acknowledged_percent(self) -> float:
        """The share of recipients who answered, in percent to one decimal."""
        return round(100 * self.acknowledged / self.recipients, 1) if self.recipients else 0.0


def seconds_after(created_at: datetime, moment: datetime | None) -> float | None:
    """Seconds from the alert to `moment`, never negative (clocks of replicas differ a little)."""
    if moment is None:
        return None
    return max(0.0, (moment - created_at).total_seconds())


def alert_report(
    created_at: datetime,
    recipients: Iterable[RecipientFacts],
    failed: Iterable[tuple[str | None, int]],
    costs: MessageCosts | None = None,
) -> AlertReport:
    """The report of an alert raised at `created_at`, from its recipients, its failed
    messages counted by their last error, and what its messages cost."""
    lines = [
        RecipientLine(facts, seconds_after(created_at, facts.first_response_at))
        for facts in recipients
    ]
    failures: Counter[str] = Counter()
    for reason, count in failed:
        failures[(reason or "").strip() or NO_REASON] += count
    delays = sorted(
        line.seconds_to_acknowledge for line in lines if line.seconds_to_acknowledge is not None
    )
    return AlertReport(
        recipients=len(lines),
        reached=_reach(lines),
        reached_any=sum(1 for line in lines if not LEFT.isdisjoint(line.facts.channel_states)),
        acknowledged=len(delays),
        responses=_responses(lines),
        time_to_acknowledge=Percentiles(
            percentile(delays, 0.5), percentile(delays, 0.9), percentile(delays, 0.99)
        ),
        by_station=_by_station(lines),
        not_answered=[line.facts for line in lines if line.seconds_to_acknowledge is None],
        failures=sorted(failures.items(), key=lambda item: (-item[1], item[0])),
        curve=acknowledgement_curve(delays),
        lines=lines,
        costs=costs,
    )


def acknowledgement_curve(
    delays: Sequence[float], points: int = CURVE_POINTS
) -> list[tuple[float, int]]:
    """(seconds, acknowledged so far) at each distinct answer time, delays in ascending order;
    beyond `points` points, evenly chosen ones, always with the first and the last."""
    curve: list[tuple[float, int]] = []
    for count, seconds in enumerate(delays, start=1):
        if curve and curve[-1][0] == seconds:
            curve[-1] = (seconds, count)
        else:
            curve.append((seconds, count))
    if len(curve) <= points:
        return curve
    last = len(curve) - 1
    chosen = sorted({round(index * last / (points - 1)) for index in range(points)})
    return [curve[index] for index in chosen]


def _reach(lines: Sequence[RecipientLine]) -> dict[str, Reach]:
    """People per channel and state; a person counts once per channel, at their best state."""
    counts = Counter(
        (channel, state)
        for line in lines
        for channel, state in zip(CHANNELS, line.facts.channel_states, strict=False)
    )
    sent, delivered = DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value
    return {
        channel: Reach(
            sent=counts[channel, sent] + counts[channel, delivered],
            delivered=counts[channel, delivered],
            failed=counts[channel, DeliveryStatus.FAILED.value],
        )
        for channel in CHANNELS
    }


def _responses(lines: Iterable[RecipientLine]) -> dict[str, int]:
    responses = {kind.value: 0 for kind in ResponseKind}
    for line in lines:
        if line.facts.response is not None:
            responses[line.facts.response] = responses.get(line.facts.response, 0) + 1
    return responses


def _by_station(lines: Iterable[RecipientLine]) -> list[StationFigures]:
    recipients: Counter[str] = Counter()
    delays: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        recipients[line.facts.station] += 1
        if line.seconds_to_acknowledge is not None:
            delays[line.facts.station].append(line.seconds_to_acknowledge)
    figures = []
    for station in sorted(recipients):
        ordered = sorted(delays[station])
        figures.append(
            StationFigures(
                station=station,
                recipients=recipients[station],
                acknowledged=len(ordered),
                p50=percentile(ordered, 0.5),
                p90=percentile(ordered, 0.9),
            )
        )
    return figures
