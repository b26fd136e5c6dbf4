"""A station's readiness on the 0-5 maturity scale, judged from its records (pure).

The levels are cumulative: a station is at level n when every criterion of levels 1 to n is
met. Every criterion is named in the result with its figure and its threshold, met or not,
so that a station sees what it lacks. The thresholds are `ReadinessSettings` (DESIGN.md,
"Readiness: the maturity scale"). Reading the facts from the store is `store.readiness_data`.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from notifier.settings import ReadinessSettings
from notifier.translatable import N_, Translatable

TOP_LEVEL = 5


@dataclass(frozen=True, slots=True)
class DrillFacts:
    """One drill of the station: its share of the drill alert, as the alert's report gives it.

    `help_answers` counts the station's recipients whose latest answer is "help";
    `help_listed` those of them named on a focal points' list sent after that answer.
    """

    alert_id: int
    created_at: datetime
    recipients: int
    acknowledged: int
    p90: float | None
    help_answers: int = 0
    help_listed: int = 0

    @property
    def acknowledged_percent(self) -> float:
        """The share of the station's recipients who answered, in percent to one decimal."""
        return round(100 * self.acknowledged / self.recipients, 1) if self.recipients else 0.0


@dataclass(frozen=True, slots=True)
class RosterFacts:
    """The station's active people, and how many can be reached by SMS, by e-mail, by both."""

    people: int
    sms: int
    email: int
    both: int


@dataclass(frozen=True, slots=True)
class StationFacts:
    """What the judgement reads about one station over the window.

    `drill_times` are the times of every drill in the window, oldest first; `drills` the
    figures of the latest of them (all, or at least the last `sustained_drills`), oldest first;
    `help_answers` and `help_listed` add up those of every drill in the window.
    """

    code: str
    drill_times: tuple[datetime, ...]
    drills: tuple[DrillFacts, ...]
    schedules: int
    missed_firings: int
    focal_points: int
    focal_point_group: str
    roster: RosterFacts
    help_answers: int = 0
    help_listed: int = 0


@dataclass(frozen=True, slots=True)
class StationInfo:
    """A station as its readiness names it: code, name, country, zone, and active people."""

    code: str
    name: str
    country: str
    timezone: str
    people: int


@dataclass(frozen=True, slots=True)
class MonthCost:
    """What a station's messages sent in one month (`YYYY-MM`, UTC) cost, in millionths of the
    currency, and how many of them carry no price."""

    month: str
    micros: int
    messages: int
    unpriced: int


@dataclass(frozen=True, slots=True)
class Criterion:
    """One criterion of one level: met or not, with its figure and threshold in words.

    `text` is the English the API, the command line and the reports give; the console shows
    `wording` in its reader's language.
    """

    level: int
    key: str
    met: bool
    wording: Translatable

    @property
    def text(self) -> str:
        """The criterion in English."""
        return str(self.wording)


@dataclass(frozen=True, slots=True)
class Readiness:
    """A station's level and every criterion behind it, judged over [window_start, now]."""

    code: str
    level: int
    criteria: tuple[Criterion, ...]
    window_start: datetime
    now: datetime


@dataclass(frozen=True, slots=True)
class StationReport:
    """Everything a station's readiness report shows: the station, its level and criteria, the
    facts behind them, and what its messages cost per month (in `currency`)."""

    station: StationInfo
    readiness: Readiness
    facts: StationFacts
    costs: tuple[MonthCost, ...]
    currency: str


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (earlier when negative), the day clamped to the
    month's last: 31 March minus one month is 28 or 29 February."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def window_start(now: datetime, settings: ReadinessSettings) -> datetime:
    """The start of the window the readiness is judged over."""
    return add_months(now, -settings.window_months)


def judge(facts: StationFacts, settings: ReadinessSettings, now: datetime) -> Readiness:
    """The station's level and its criteria, lowest level first."""
    start = window_start(now, settings)
    criteria = (
        *_level_1(facts, settings),
        *_level_2(facts, settings, start, now),
        *_level_3(facts, settings, start, now),
        *_level_4(facts, settings),
        *_level_5(facts, settings),
    )
    level = 0
    for candidate in range(1, TOP_LEVEL + 1):
        if not all(c.met for c in criteria if c.level == candidate):
            break
        level = candidate
    return Readiness(facts.code, level, criteria, start, now)


def number(value: float) -> str:
    """A figure as people read it: 64, 64.5 (one decimal at most)."""
    rounded = round(float(value), 1)
    return str(int(rounded)) if rounded.is_integer() else str(rounded)


def percent(part: int, whole: int) -> float:
    """`part` of `whole` in percent to one decimal; 0 of nothing is 0."""
    return round(100 * part / whole, 1) if whole else 0.0


def _level_1(facts: StationFacts, settings: ReadinessSettings) -> list[Criterion]:
    count = len(facts.drill_times)
    text = N_(
        "%(count)s drill(s) run in the last %(months)s months, needs ≥ 1",
        count=count,
        months=settings.window_months,
    )
    return [Criterion(1, "drill_run", count >= 1, text)]


def _level_2(
    facts: StationFacts, settings: ReadinessSettings, start: datetime, now: datetime
) -> list[Criterion]:
    gap = longest_gap_days(facts.drill_times, start, now)
    roster = facts.roster
    sms, email = percent(roster.sms, roster.people), percent(roster.email, roster.people)
    needed = settings.reachable_percent
    return [
        Criterion(
            2,
            "schedule",
            facts.schedules >= 1,
            N_("%(count)s drill schedule(s) not paused, needs ≥ 1", count=facts.schedules),
        ),
        Criterion(
            2,
            "quarterly",
            gap <= settings.quarterly_gap_days,
            N_(
                "longest stretch without a drill %(days)s days, needs ≤ %(limit)s",
                days=number(gap),
                limit=settings.quarterly_gap_days,
            ),
        ),
        Criterion(
            2,
            "reachable_sms",
            sms >= needed,
            N_(
                "%(percent)s %% of the roster (%(count)s of %(people)s) reachable by SMS, "
                "needs ≥ %(needed)s %%",
                percent=number(sms),
                count=roster.sms,
                people=roster.people,
                needed=number(needed),
            ),
        ),
        Criterion(
            2,
            "reachable_email",
            email >= needed,
            N_(
                "%(percent)s %% of the roster (%(count)s of %(people)s) reachable by e-mail, "
                "needs ≥ %(needed)s %%",
                percent=number(email),
                count=roster.email,
                people=roster.people,
                needed=number(needed),
            ),
        ),
    ]


def _level_3(
    facts: StationFacts, settings: ReadinessSettings, start: datetime, now: datetime
) -> list[Criterion]:
    empty = months_without_drill(facts.drill_times, now, settings.window_months)
    missed = max(empty, facts.missed_firings)
    last = facts.drills[-1] if facts.drills else None
    needed = settings.last_drill_percent
    return [
        Criterion(
            3,
            "monthly",
            missed <= settings.monthly_missed_max,
            N_(
                "%(empty)s of the last %(months)s months without a drill, "
                "%(missed)s missed firing(s) recorded, needs ≤ %(limit)s missed",
                empty=empty,
                months=settings.window_months,
                missed=facts.missed_firings,
                limit=settings.monthly_missed_max,
            ),
        ),
        Criterion(
            3,
            "focal_point",
            facts.focal_points >= 1,
            N_(
                "%(count)s focal point(s) named (group %(group)s), needs ≥ 1",
                count=facts.focal_points,
                group=facts.focal_point_group,
            ),
        ),
        _last_percent(3, "last_drill_acknowledged", last, needed),
    ]


def _level_4(facts: StationFacts, settings: ReadinessSettings) -> list[Criterion]:
    last = facts.drills[-1] if facts.drills else None
    roster = facts.roster
    both = percent(roster.both, roster.people)
    limit = settings.advanced_p90_minutes
    if last is None:
        p90 = Criterion(
            4,
            "last_drill_p90",
            False,
            N_("no drill run, needs p90 ≤ %(limit)s min", limit=number(limit)),
        )
    elif last.p90 is None:
        p90 = Criterion(
            4,
            "last_drill_p90",
            False,
            N_("last drill: nobody answered, needs p90 ≤ %(limit)s min", limit=number(limit)),
        )
    else:
        p90 = Criterion(
            4,
            "last_drill_p90",
            last.p90 <= limit * 60,
            N_(
                "last drill p90 time to acknowledge %(minutes)s min, needs ≤ %(limit)s min",
                minutes=number(last.p90 / 60),
                limit=number(limit),
            ),
        )
    answers, listed = facts.help_answers, facts.help_listed
    return [
        _last_percent(4, "last_drill_acknowledged_advanced", last, settings.advanced_percent),
        p90,
        Criterion(
            4,
            "reachable_both",
            both >= settings.reachable_both_percent,
            N_(
                "%(percent)s %% of the roster (%(count)s of %(people)s) reachable both by "
                "SMS and by e-mail, needs ≥ %(needed)s %%",
                percent=number(both),
                count=roster.both,
                people=roster.people,
                needed=number(settings.reachable_both_percent),
            ),
        ),
        Criterion(
            4,
            "help_reached_focal_point",
            listed == answers,
            N_(
                '%(listed)s of %(answers)s "help" answer(s) in the drills reached a focal point '
                "(on a focal points' list sent after the answer), needs all",
                listed=listed,
                answers=answers,
            ),
        ),
    ]


def _level_5(facts: StationFacts, settings: ReadinessSettings) -> list[Criterion]:
    count = settings.sustained_drills
    recent = facts.drills[-count:]
    if len(recent) < count or len(facts.drill_times) < count:
        run = len(facts.drill_times)
        text = N_("%(run)s drill(s) run, needs the last %(count)s at level 4", run=run, count=count)
        compare = N_("%(run)s drill(s) run, needs %(count)s to compare", run=run, count=count)
        return [
            Criterion(5, "sustained", False, text),
            Criterion(5, "not_falling", False, compare),
        ]
    failing = [drill for drill in recent if not drill_at_level_4(drill, settings)]
    sustained = Criterion(
        5,
        "sustained",
        not failing,
        N_(
            "%(met)s of the last %(count)s drills ≥ %(percent)s %% acknowledged with p90 ≤ "
            '%(minutes)s min and every "help" answer on a focal points\' list, '
            "needs all %(count)s",
            met=count - len(failing),
            count=count,
            percent=number(settings.advanced_percent),
            minutes=number(settings.advanced_p90_minutes),
        ),
    )
    figures = [drill.acknowledged_percent for drill in recent]
    rising = all(later >= earlier for earlier, later in pairwise(figures))
    trend = " → ".join(f"{number(figure)} %" for figure in figures)
    not_falling = Criterion(
        5,
        "not_falling",
        rising,
        N_("last %(count)s drills acknowledged %(trend)s, needs no fall", count=count, trend=trend),
    )
    return [sustained, not_falling]


def drill_at_level_4(drill: DrillFacts, settings: ReadinessSettings) -> bool:
    """Whether one drill meets the level-4 drill criteria: acknowledged, p90, help answers."""
    return (
        drill.acknowledged_percent >= settings.advanced_percent
        and drill.p90 is not None
        and drill.p90 <= settings.advanced_p90_minutes * 60
        and drill.help_listed == drill.help_answers
    )


def _last_percent(level: int, key: str, last: DrillFacts | None, needed: float) -> Criterion:
    if last is None:
        return Criterion(
            level,
            key,
            False,
            N_("no drill run, needs ≥ %(needed)s %% acknowledged", needed=number(needed)),
        )
    figure = last.acknowledged_percent
    return Criterion(
        level,
        key,
        figure >= needed,
        N_(
            "last drill %(percent)s %% acknowledged (%(acknowledged)s of %(recipients)s), "
            "needs ≥ %(needed)s %%",
            percent=number(figure),
            acknowledged=last.acknowledged,
            recipients=last.recipients,
            needed=number(needed),
        ),
    )


def longest_gap_days(times: Sequence[datetime], start: datetime, now: datetime) -> float:
    """The longest stretch in days without a drill: from `start` to the first, between two,
    from the last to `now` (the whole window when there is none)."""
    points = [start, *sorted(times), now]
    longest = max((later - earlier).total_seconds() for earlier, later in pairwise(points))
    return longest / (24 * 3600)


def months_without_drill(times: Sequence[datetime], now: datetime, months: int) -> int:
    """How many of the `months` one-month periods ending at `now` hold no drill."""
    empty = 0
    for back in range(months):
        begin, end = add_months(now, -(back + 1)), add_months(now, -back)
        if not any(begin <= moment < end or (back == 0 and moment == now) for moment in times):
            empty += 1
    return empty


def yearly(months: Iterable[MonthCost]) -> list[tuple[str, int]]:
    """The monthly costs summed per calendar year, oldest first."""
    years: dict[str, int] = defaultdict(int)
    for month in months:
        years[month.month[:4]] += month.micros
    return sorted(years.items())
