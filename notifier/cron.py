"""Drill schedules as crontab expressions in a station's time zone, and their next firing (pure).

APScheduler's `CronTrigger` reads the expression; this module is the only one that names it.
Two things are settled here, before and after APScheduler:

- Numeric weekdays mean what they mean in crontab (0 and 7 Sunday, 1 Monday … 6 Saturday).
  `CronTrigger.from_crontab` passes numbers through as 0 = Monday, so they are translated to
  names (`mon` … `sun`) first; names pass through unchanged.
- When day of month and day of week are both restricted, both must match (APScheduler's
  meaning, not classic cron's "either"): `0 10 1-7 * mon` is the first Monday of each month.
- Clock changes: a firing in the hour skipped in spring runs once, an hour later by the wall
  clock (02:30 on 2027-03-14 in America/New_York fires at 03:30 EDT; midnight on 2027-09-05
  in America/Santiago, whose clocks go from 24:00 to 01:00, fires at 01:00). A firing in the
  hour repeated in autumn runs once, at its first occurrence. APScheduler 3.11 left to itself
  gives both repeated ones, and drops a skipped midnight, so the trigger here reads wall-clock
  times (as if in UTC) and this module places each in the time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from notifier.errors import FieldError

FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_TRIGGER_ARGUMENTS = ("minute", "hour", "day", "month", "day_of_week")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""Crontab's weekday numbers as names: 0 (and 7) Sunday, 1 Monday … 6 Saturday."""
_MONDAY_FIRST = (*WEEKDAY_NAMES[1:], WEEKDAY_NAMES[0])
_NUMERIC_WEEKDAY = re.compile(r"(?:\*|(\d+)(?:-(\d+))?)(?:/(\d+))?")
MAX_EXPRESSION = 100
_SOME_PAST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A checked crontab expression, as written, in its time zone."""

    expression: str
    zone: ZoneInfo
    trigger: CronTrigger
    """Reads the expression on the wall clock: its times are wall-clock readings marked UTC."""


@dataclass(frozen=True, slots=True)
class Firing:
    """One moment a schedule fires: in its time zone (with the offset then) and in UTC."""

    local: datetime
    utc: datetime


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone named; FieldError on `timezone` when there is none of that name."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise FieldError("timezone", f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError("timezone", f"unknown time zone {name!r}") from None


def parse_cron(expression: str, zone: ZoneInfo) -> CronSchedule:
    """Check five crontab fields and build the trigger; FieldError on `cron` naming the field."""
    fields = expression.split()
    if len(expression) > MAX_EXPRESSION:
        raise FieldError("cron", f"longer than {MAX_EXPRESSION} characters")
    if len(fields) != len(FIELDS):
        raise FieldError(
            "cron",
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}",
        )
    fields[4] = crontab_weekdays(fields[4])
    for name, argument, value in zip(FIELDS, _TRIGGER_ARGUMENTS, fields, strict=True):
        try:
            CronTrigger(**{argument: value}, timezone=zone)
        except ValueError as error:
            raise FieldError("cron", f"{name} {value!r}: {_reason(error)}") from None
    trigger = CronTrigger.from_crontab(" ".join(fields), timezone=UTC)
    if trigger.get_next_fire_time(None, _SOME_PAST_TIME) is None:
        raise FieldError("cron", f"{expression!r} names no date that exists: it never fires")
    return CronSchedule(expression=" ".join(expression.split()), zone=zone, trigger=trigger)


def crontab_weekdays(field: str) -> str:
    """The day-of-week field with crontab's numbers written as APScheduler's names.

    `1-5` → `mon,tue,wed,thu,fri`, `0,7` → `sun`, `*/2` → `tue,thu,sat,sun`, `5/1` → `fri,sat`;
    `*`, names and name ranges are left as they are. FieldError on `cron` for a number past 7.
    """
    parts: list[str] = []
    for part in field.split(","):
        days = _numeric_weekdays(part)
        if days is None:
            parts.append(part)
        else:
            parts += [name for name in _MONDAY_FIRST if name in days and name not in parts]
    return ",".join(parts)


def next_firing(schedule: CronSchedule, after: datetime) -> Firing | None:
    """The schedule's first firing strictly after `after` (aware), or None if it never fires.

    The second occurrence of a wall time repeated when clocks go back is not a firing; a wall
    time skipped when clocks go forward fires at the moment it would have been by the clock
    before the change.
    """
    moment = after.astimezone(UTC)
    wall = moment.astimezone(schedule.zone).replace(tzinfo=UTC, fold=0)
    while True:
        found = schedule.trigger.get_next_fire_time(None, wall + _TICK)
        if found is None:
            return None
        # fold=0: the first of a repeated reading; a skipped one at the offset before the change.
        utc = found.replace(tzinfo=schedule.zone, fold=0).astimezone(UTC)
        if utc > moment:
            return Firing(local=utc.astimezone(schedule.zone), utc=utc)
        wall = found


def _numeric_weekdays(part: str) -> set[str] | None:
    """The days a numeric crontab weekday term names, or None for a term left as it is."""
    match = _NUMERIC_WEEKDAY.fullmatch(part)
    if match is None or part == "*":
        return None
    first, last, step = match.groups()
    low = 0 if first is None else int(first)
    high = int(last) if last is not None else 6 if first is None or step else low
    if max(low, high) > 7:
        raise FieldError("cron", f"day of week {part!r}: weekdays run from 0 to 7 (0 and 7 Sunday)")
    if low > high:
        raise FieldError("cron", f"day of week {part!r}: the range runs backwards")
    if step is not None and int(step) == 0:
        raise FieldError("cron", f"day of week {part!r}: the step must be at least 1")
    return {WEEKDAY_NAMES[day % 7] for day in range(low, high + 1, int(step or 1))}


def _reason(error: ValueError) -> str:
    text = str(error)
    return text.removeprefix("Error validating expression ").strip() or "not valid"
