"""Which firings of a drill schedule are due now: raised if late by at most the grace, else missed.

Pure: the schedule, the last scheduled time already handled, `now` and the grace in, the due
firings out. A firing is due when scheduled in (last, now]; it is raised when at most `grace`
late, and missed (not raised, only counted) when later than that. Several due within the
grace at once (a daemon back after half an hour, with a drill every ten minutes) are one
drill, not a burst of them: the latest is raised, the earlier ones are counted missed.

A long gap is not walked firing by firing: at most `MAX_MISSED_COUNTED` missed firings are
counted, and the walk then goes on from the last firing before the grace window, found by
halving the span left. So a drill every minute whose scheduler stopped for a year
counts 1000 missed firings, not 525,600: `missed` says that a drill did not run, and how often
up to a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.cron import CronSchedule, Firing, next_firing

MAX_MISSED_COUNTED = 1000


@dataclass(frozen=True, slots=True)
class DueFirings:
    """The firings due: the one to raise (if any), and the missed ones before it.

    `last_missed` is the latest missed firing (None when none was missed): the one recorded to
    mark the missed ones as handled.
    """

    fire: tuple[Firing, ...]
    missed: int
    last_missed: Firing | None


def due_firings(
    schedule: CronSchedule, last: datetime, now: datetime, grace: timedelta
) -> DueFirings:
    """The firings scheduled after `last` and at or before `now`: the latest within the grace
    raised, the others missed."""
    window = now - grace  # a firing at or after this is at most `grace` late
    missed = 0
    last_missed: Firing | None = None
    firing = next_firing(schedule, last)
    while firing is not None and firing.utc < window:
        missed += 1
        last_missed = firing
        if missed == MAX_MISSED_COUNTED:
            last_missed = _last_before(schedule, firing, window)
            firing = next_firing(schedule, last_missed.utc)
            break
        firing = next_firing(schedule, firing.utc)
    latest: Firing | None = None
    while firing is not None and firing.utc <= now:
        if latest is not None:  # coalesced into the later one
            missed += 1
            last_missed = latest
        latest = firing
        firing = next_firing(schedule, firing.utc)
    fire = () if latest is None else (latest,)
    return DueFirings(fire=fire, missed=min(missed, MAX_MISSED_COUNTED), last_missed=last_missed)


def _last_before(schedule: CronSchedule, known: Firing, limit: datetime) -> Firing:
    """The schedule's last firing before `limit`, `known` being one: by halving the span left.

    `found` is a firing before `limit`, and none falls in (`high`, `limit`).
    """
    found, high = known, limit
    while True:
        following = next_firing(schedule, found.utc)
        if following is None or following.utc >= limit:
            return found
        middle = following.utc + (high - following.utc) / 2
        probe = next_firing(schedule, middle)
        if probe is not None and probe.utc < limit:
            found = probe
        else:
            found, high = following, middle
