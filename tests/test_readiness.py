"""The readiness judgement over plain values: levels, named criteria, and their edge cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from notifier.readiness import (
    DrillFacts,
    RosterFacts,
    StationFacts,
    add_months,
    judge,
    longest_gap_days,
    months_without_drill,
    number,
)
from notifier.settings import ReadinessSettings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTINGS = ReadinessSettings()
MONTHLY = tuple(add_months(NOW, -back) - timedelta(days=16) for back in range(11, -1, -1))


def drill(
    at: datetime, acknowledged: int = 10, p90: float | None = 120.0, **more: int
) -> DrillFacts:
    """A drill of ten recipients at `at`."""
    return DrillFacts(1, at, 10, acknowledged, p90, **more)


def station(drills: tuple[DrillFacts, ...] | None = None, **changes: object) -> StationFacts:
    """A station at level 5 with these drills (monthly, all acknowledged, when none given)."""
    drills = tuple(drill(at) for at in MONTHLY) if drills is None else drills
    facts = StationFacts(
        code="NBO",
        drill_times=tuple(d.created_at for d in drills),
        drills=drills,
        schedules=1,
        missed_firings=0,
        focal_points=1,
        focal_point_group="security-focal-points",
        roster=RosterFacts(20, 20, 20, 20),
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def missed(facts: StationFacts, settings: ReadinessSettings = SETTINGS) -> dict[str, str]:
    """The criteria missed, by key, with their words."""
    return {c.key: c.text for c in judge(facts, settings, NOW).criteria if not c.met}


def test_full_station_is_level_5() -> None:
    """Monthly drills all acknowledged fast, a full roster and a focal point: level 5."""
    assert judge(station(), SETTINGS, NOW).level == 5
    assert missed(station()) == {}


def test_no_drills_is_level_0_and_names_why() -> None:
    """Without a drill the station is at 0, and every drill criterion says there is none."""
    facts = station(())
    assert judge(facts, SETTINGS, NOW).level == 0
    words = missed(facts)
    assert words["drill_run"] == "0 drill(s) run in the last 12 months, needs ≥ 1"
    assert words["last_drill_acknowledged"] == "no drill run, needs ≥ 70 % acknowledged"
    assert words["quarterly"] == "longest stretch without a drill 365 days, needs ≤ 92"
    assert words["monthly"].startswith("12 of the last 12 months without a drill")
    assert words["sustained"] == "0 drill(s) run, needs the last 3 at level 4"


def test_one_drill_is_level_1() -> None:
    """One drill and nothing else: level 1, level 5 needing three drills to compare."""
    facts = station((drill(MONTHLY[-1]),), schedules=0)
    assert judge(facts, SETTINGS, NOW).level == 1
    assert missed(facts)["not_falling"] == "1 drill(s) run, needs 3 to compare"


def test_last_drill_below_threshold_is_named_with_figure() -> None:
    """A last drill at 64 % says so, with the 70 % it needs."""
    drills = (*(drill(at) for at in MONTHLY[:-1]), DrillFacts(2, MONTHLY[-1], 25, 16, 100.0))
    words = missed(station(drills))
    assert words["last_drill_acknowledged"] == (
        "last drill 64 % acknowledged (16 of 25), needs ≥ 70 %"
    )
    assert judge(station(drills), SETTINGS, NOW).level == 2


def test_falling_acknowledgement_stops_level_5() -> None:
    """Three drills at level 4 whose acknowledgement falls stay at level 4."""
    drills = (
        *(drill(at) for at in MONTHLY[:-3]),
        drill(MONTHLY[-3], 10),
        drill(MONTHLY[-2], 10),
        DrillFacts(3, MONTHLY[-1], 20, 19, 60.0),
    )
    facts = station(drills)
    assert judge(facts, SETTINGS, NOW).level == 4
    assert missed(facts) == {
        "not_falling": "last 3 drills acknowledged 100 % → 100 % → 95 %, needs no fall"
    }


def test_slow_last_drill_misses_level_4() -> None:
    """A p90 of 20 minutes misses the 15 minutes level 4 allows."""
    drills = (*(drill(at) for at in MONTHLY[:-1]), drill(MONTHLY[-1], p90=1200.0))
    words = missed(station(drills))
    assert words["last_drill_p90"] == "last drill p90 time to acknowledge 20 min, needs ≤ 15 min"
    assert judge(station(drills), SETTINGS, NOW).level == 3


def test_help_not_reaching_a_focal_point_misses_level_4() -> None:
    """One "help" answer of two on no focal points' list keeps the station at level 3."""
    facts = station(help_answers=2, help_listed=1)
    assert judge(facts, SETTINGS, NOW).level == 3
    assert missed(facts)["help_reached_focal_point"].startswith('1 of 2 "help" answer(s)')


def test_levels_are_cumulative() -> None:
    """Level-4 figures do not lift a station that misses a level-2 criterion."""
    facts = station(roster=RosterFacts(20, 20, 10, 10))
    assert judge(facts, SETTINGS, NOW).level == 1
    assert set(missed(facts)) == {"reachable_email", "reachable_both"}


def test_thresholds_come_from_the_settings() -> None:
    """A lower bar for the last drill's acknowledgement changes the judgement."""
    drills = (*(drill(at) for at in MONTHLY[:-1]), DrillFacts(2, MONTHLY[-1], 25, 16, 100.0))
    lenient = ReadinessSettings(last_drill_percent=60)
    assert judge(station(drills), lenient, NOW).level == 3


def test_one_missed_month_is_allowed() -> None:
    """One month without a drill is still monthly; two are not."""
    assert judge(station(tuple(drill(at) for at in MONTHLY[1:])), SETTINGS, NOW).level == 5
    two_gone = tuple(drill(at) for at in MONTHLY[2:])
    assert "monthly" in missed(station(two_gone))
    assert "monthly" in missed(station(missed_firings=2))


def test_no_roster_reaches_nobody() -> None:
    """A station without people is reachable by nobody: 0 %, not a division by zero."""
    words = missed(station(roster=RosterFacts(0, 0, 0, 0)))
    assert words["reachable_sms"] == "0 % of the roster (0 of 0) reachable by SMS, needs ≥ 80 %"


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2026, 3, 31, tzinfo=UTC), -1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2024, 3, 31, tzinfo=UTC), -1, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2026, 1, 15, tzinfo=UTC), -12, datetime(2025, 1, 15, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), 1, datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_add_months(moment: datetime, months: int, expected: datetime) -> None:
    """Months are added on the calendar, the day clamped to the month's last."""
    assert add_months(moment, months) == expected


def test_gaps_and_empty_months() -> None:
    """The longest gap counts the window's edges; empty months are counted back from now."""
    start = add_months(NOW, -12)
    assert longest_gap_days([], start, NOW) == 365
    assert longest_gap_days([NOW - timedelta(days=10)], start, NOW) == 355
    assert months_without_drill([NOW - timedelta(days=10)], NOW, 12) == 11
    assert months_without_drill([NOW], NOW, 3) == 2


def test_numbers_read_plainly() -> None:
    """Whole figures without decimals, others to one decimal."""
    assert (number(64.0), number(64.25), number(80)) == ("64", "64.2", "80")
