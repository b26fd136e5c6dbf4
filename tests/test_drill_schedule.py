"""Crontab expressions in a time zone: weekdays as crontab numbers them, clock changes, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.cron import crontab_weekdays, next_firing, parse_cron, parse_zone
from notifier.errors import FieldError

NEW_YORK = "America/New_York"


@pytest.mark.parametrize(
    ("expression", "zone", "after", "local", "utc"),
    [
        # 2027-01-01 is a Friday.
        ("0 10 * * 1", "UTC", "2027-01-01T00:00+00:00", "2027-01-04T10:00:00+00:00", None),
        ("0 10 * * 0", "UTC", "2027-01-01T00:00+00:00", "2027-01-03T10:00:00+00:00", None),
        ("0 10 * * 7", "UTC", "2027-01-01T00:00+00:00", "2027-01-03T10:00:00+00:00", None),
        ("0 10 * * 6", "UTC", "2027-01-01T00:00+00:00", "2027-01-02T10:00:00+00:00", None),
        ("0 10 * * 1-5", "UTC", "2027-01-01T11:00+00:00", "2027-01-04T10:00:00+00:00", None),
        ("0 10 * * 2,4", "UTC", "2027-01-01T00:00+00:00", "2027-01-05T10:00:00+00:00", None),
        ("0 10 * * */3", "UTC", "2027-01-01T00:00+00:00", "2027-01-02T10:00:00+00:00", None),
        ("0 10 * * mon", "UTC", "2027-01-01T00:00+00:00", "2027-01-04T10:00:00+00:00", None),
        # Day of month and day of week both restricted: both must hold (the first Monday).
        ("0 10 1-7 * mon", "UTC", "2027-01-05T00:00+00:00", "2027-02-01T10:00:00+00:00", None),
        ("0 10 1-7 * 1", "UTC", "2027-02-02T00:00+00:00", "2027-03-01T10:00:00+00:00", None),
        (
            "0 10 1-7 * mon",
            "Africa/Nairobi",
            "2027-01-01T00:00+00:00",
            "2027-01-04T10:00:00+03:00",
            "2027-01-04T07:00:00+00:00",
        ),
        # Strictly after: a firing at `after` itself is not the next one.
        ("0 10 * * 1", "UTC", "2027-01-04T10:00+00:00", "2027-01-11T10:00:00+00:00", None),
        # 02:30 does not exist on the spring-forward day: it fires once, at 03:30 EDT.
        (
            "30 2 * * *",
            NEW_YORK,
            "2027-03-13T12:00+00:00",
            "2027-03-14T03:30:00-04:00",
            "2027-03-14T07:30:00+00:00",
        ),
        (
            "30 2 * * *",
            NEW_YORK,
            "2027-03-14T07:30+00:00",
            "2027-03-15T02:30:00-04:00",
            "2027-03-15T06:30:00+00:00",
        ),
        # 01:30 happens twice on the fall-back day: the first (EDT) fires, the second does not.
        (
            "30 1 * * *",
            NEW_YORK,
            "2027-11-06T12:00+00:00",
            "2027-11-07T01:30:00-04:00",
            "2027-11-07T05:30:00+00:00",
        ),
        (
            "30 1 * * *",
            NEW_YORK,
            "2027-11-07T05:30+00:00",
            "2027-11-08T01:30:00-05:00",
            "2027-11-08T06:30:00+00:00",
        ),
    ],
)
def test_next_firing(expression: str, zone: str, after: str, local: str, utc: str | None) -> None:
    """The next firing after a moment, in the schedule's zone and in UTC, as crontab means it."""
    schedule = parse_cron(expression, parse_zone(zone))
    firing = next_firing(schedule, datetime.fromisoformat(after))
    assert firing is not None
    assert firing.local.isoformat() == local
    assert firing.utc.isoformat() == (utc or local)
    assert firing.utc.tzinfo is UTC


def test_fall_back_day_fires_once() -> None:
    """Walking a daily 01:30 New York drill across 2027-11-07 gives one firing that day."""
    schedule = parse_cron("30 1 * * *", parse_zone(NEW_YORK))
    moment = datetime(2027, 11, 5, 12, tzinfo=UTC)
    days = []
    for _ in range(4):
        firing = next_firing(schedule, moment)
        assert firing is not None
        days.append(firing.local.date().isoformat())
        moment = firing.utc
    assert days == ["2027-11-06", "2027-11-07", "2027-11-08", "2027-11-09"]


@pytest.mark.parametrize(
    ("field", "translated"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("0,7", "sun"),
        ("1,3,5", "mon,wed,fri"),
        ("5-7", "fri,sat,sun"),
        ("0-2", "mon,tue,sun"),
        ("*/2", "tue,thu,sat,sun"),
        ("1-5/2", "mon,wed,fri"),
        ("*", "*"),
        ("mon-fri", "mon-fri"),
        ("sat,1", "sat,mon"),
    ],
)
def test_crontab_weekdays(field: str, translated: str) -> None:
    """Crontab's weekday numbers (0 and 7 Sunday) become names; names pass through."""
    assert crontab_weekdays(field) == translated


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 10 * *", "expected 5 fields"),
        ("0 10 * * * *", "expected 5 fields"),
        ("", "expected 5 fields"),
        ("60 10 * * *", "minute '60'"),
        ("0 24 * * *", "hour '24'"),
        ("0 10 0 * *", "day of month '0'"),
        ("0 10 32 * *", "day of month '32'"),
        ("0 10 * 13 *", "month '13'"),
        ("0 10 * * 8", "day of week '8': weekdays run from 0 to 7"),
        ("0 10 * * 5-1", "day of week '5-1': the range runs backwards"),
        ("0 10 * * funday", "day of week 'funday'"),
        ("*/0 10 * * *", "minute '\\*/0'"),
        ("0 10 31 2 *", "never fires"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, message: str) -> None:
    """A bad expression is refused on `cron`, naming the field at fault."""
    with pytest.raises(FieldError, match=message) as raised:
        parse_cron(expression, parse_zone("UTC"))
    assert raised.value.field == "cron"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", " UTC"])
def test_unknown_zone(name: str) -> None:
    """An unknown time zone is refused on `timezone`, naming it."""
    with pytest.raises(FieldError, match="unknown time zone") as raised:
        parse_zone(name)
    assert raised.value.field == "timezone"
