"""Due drill firings: raised within the grace, missed beyond it, once across clock changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from notifier.cron import next_firing, parse_cron, parse_zone
from notifier.drill_firings import MAX_MISSED_COUNTED, due_firings

HOUR = timedelta(hours=1)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("expression", "zone", "last", "now", "grace", "fire", "missed"),
    [
        (
            "* * * * *",
            "UTC",
            "2027-01-01T10:00+00:00",
            "2027-01-01T10:03:30+00:00",
            HOUR,
            ["2027-01-01T10:03:00+00:00"],  # 10:01 and 10:02 coalesce into it
            2,
        ),
        # A firing at `last` was handled already; one at `now` is due.
        (
            "* * * * *",
            "UTC",
            "2027-01-01T10:00+00:00",
            "2027-01-01T10:01+00:00",
            HOUR,
            ["2027-01-01T10:01:00+00:00"],
            0,
        ),
        ("* * * * *", "UTC", "2027-01-01T10:00+00:00", "2027-01-01T10:00:59+00:00", HOUR, [], 0),
        # The first Monday of January and of February passed long ago; March's is 30 min late.
        (
            "0 10 1-7 * mon",
            "UTC",
            "2027-01-01T00:00+00:00",
            "2027-03-01T10:30+00:00",
            HOUR,
            ["2027-03-01T10:00:00+00:00"],
            2,
        ),
        # New York, spring forward: 02:30 does not exist and fires once, at 03:30 EDT.
        (
            "30 2 * * *",
            "America/New_York",
            "2027-03-13T12:00+00:00",
            "2027-03-14T09:00+00:00",
            2 * HOUR,
            ["2027-03-14T03:30:00-04:00"],
            0,
        ),
        # New York, fall back: 01:30 happens twice and fires once, at the first (EDT).
        (
            "30 1 * * *",
            "America/New_York",
            "2027-11-06T12:00+00:00",
            "2027-11-07T07:00+00:00",
            3 * HOUR,
            ["2027-11-07T01:30:00-04:00"],
            0,
        ),
        # Geneva, spring forward (02:00 → 03:00) and fall back (03:00 → 02:00).
        (
            "30 2 * * *",
            "Europe/Zurich",
            "2027-03-27T12:00+00:00",
            "2027-03-28T03:00+00:00",
            2 * HOUR,
            ["2027-03-28T03:30:00+02:00"],
            0,
        ),
        (
            "30 2 * * *",
            "Europe/Zurich",
            "2027-10-30T12:00+00:00",
            "2027-10-31T03:00+00:00",
            3 * HOUR,
            ["2027-10-31T02:30:00+02:00"],
            0,
        ),
        # Santiago changes at 24:00: midnight on 2027-09-05 does not exist and fires at 01:00;
        # 23:30 on 2027-04-03 happens twice and fires once.
        (
            "0 0 * * *",
            "America/Santiago",
            "2027-09-04T12:00+00:00",
            "2027-09-05T05:00+00:00",
            2 * HOUR,
            ["2027-09-05T01:00:00-03:00"],
            0,
        ),
        (
            "30 23 * * *",
            "America/Santiago",
            "2027-04-03T12:00+00:00",
            "2027-04-04T04:00+00:00",
            2 * HOUR,
            ["2027-04-03T23:30:00-03:00"],
            0,
        ),
        # Inside the grace it fires, exactly at the grace too; beyond it, it is missed. Two
        # inside the grace are one drill: the latest fires, the earlier is missed.
        (
            "0 * * * *",
            "UTC",
            "2027-01-01T07:30+00:00",
            "2027-01-01T10:30+00:00",
            90 * timedelta(minutes=1),
            ["2027-01-01T10:00:00+00:00"],
            2,
        ),
        (
            "0 * * * *",
            "UTC",
            "2027-01-01T08:30+00:00",
            "2027-01-01T09:30+00:00",
            90 * timedelta(minutes=1),
            ["2027-01-01T09:00:00+00:00"],
            0,
        ),
        (
            "0 * * * *",
            "UTC",
            "2027-01-01T08:30+00:00",
            "2027-01-01T10:30+00:00",
            HOUR,
            ["2027-01-01T10:00:00+00:00"],
            1,
        ),
    ],
)
def test_due_firings(
    expression: str,
    zone: str,
    last: str,
    now: str,
    grace: timedelta,
    fire: list[str],
    missed: int,
) -> None:
    """The firings in (last, now] are raised when at most `grace` late, else counted missed."""
    schedule = parse_cron(expression, parse_zone(zone))
    due = due_firings(schedule, _at(last), _at(now), grace)
    assert [firing.local.isoformat() for firing in due.fire] == fire
    assert due.missed == missed
    assert (due.last_missed is None) == (missed == 0)


def test_missed_ones_are_marked_by_the_latest() -> None:
    """The latest missed firing is the one returned to mark the missed ones as handled."""
    schedule = parse_cron("0 10 1-7 * mon", parse_zone("UTC"))
    due = due_firings(schedule, _at("2027-01-01T00:00+00:00"), _at("2027-03-01T10:30+00:00"), HOUR)
    assert due.last_missed is not None
    assert due.last_missed.utc == _at("2027-02-01T10:00+00:00")


@pytest.mark.parametrize(
    ("expression", "last_missed", "fired"),
    [
        ("* * * * *", "2027-01-01T09:59:00+00:00", 1),
        ("0 10 * * *", "2026-12-31T10:00:00+00:00", 1),
        ("0 10 * * mon", "2026-12-28T10:00:00+00:00", 0),
        ("* * * 12 *", "2026-12-31T23:59:00+00:00", 0),
    ],
)
def test_a_long_gap_counts_at_most_a_thousand(
    expression: str, last_missed: str, fired: int
) -> None:
    """Years without a scheduler count 1000 missed firings, and the walk skips to the window."""
    schedule = parse_cron(expression, parse_zone("UTC"))
    now = _at("2027-01-01T10:00+00:00")
    due = due_firings(schedule, _at("1990-01-01T00:00+00:00"), now, HOUR)
    assert due.missed == MAX_MISSED_COUNTED
    assert due.last_missed is not None
    assert due.last_missed.utc == _at(last_missed)
    assert len(due.fire) == fired
    following = next_firing(schedule, due.last_missed.utc)
    assert following is not None
    assert following.utc >= now - HOUR
