"""What a station's readiness needs from the store, for one station or many in a few queries.

Whatever the number of stations: one select of the drill alerts of the window, one count of
their recipients per station, one of the slowest first answers (those from the p90's nearest
rank on, ranked by the database: of every drill for one station's report, of the latest drills
only for a list of stations), one of the "help" answers and one of the focal points' lists
sent, one of the schedules and one of their missed firings, one count of the focal points and
one of the roster's reach. A drill's acknowledged % and p90 are its station's row of the
alert's report (`notifier.reports.nearest_rank`, seconds from the alert to each first answer).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.access import Action, Principal
from notifier.domain import AlertKind, AlertStatus, Purpose, ResponseKind
from notifier.errors import NotFoundError
from notifier.readiness import (
    DrillFacts,
    Readiness,
    RosterFacts,
    StationFacts,
    StationInfo,
    StationReport,
    judge,
    window_start,
)
from notifier.reports import nearest_rank, seconds_after
from notifier.settings import Settings
from notifier.store.station_costs import monthly_costs
from notifier.store.tables import (
    ALERT,
    DELIVERY,
    PERSON,
    PERSON_GROUP,
    RECIPIENT,
    STATION,
    DrillFiring,
    DrillSchedule,
    metadata,
)

DRILL = metadata.tables[DrillSchedule.__tablename__]
DRILL_FIRING = metadata.tables[DrillFiring.__tablename__]
P90 = 0.9
ID_BATCH = 1000
"""Alert ids named in one statement: well under the parameter limits of SQLite and asyncpg."""


@dataclass(frozen=True, slots=True)
class _Drill:
    alert_id: int
    created_at: datetime


@dataclass(slots=True)
class _Counts:
    recipients: int = 0
    acknowledged: int = 0
    answered: int = 0
    slowest: dict[int, float] = field(default_factory=dict)
    help_answers: int = 0
    help_listed: int = 0


def _in_window(start: datetime, now: datetime) -> ColumnElement[bool]:
    a = ALERT.c
    return and_(
        a.kind == AlertKind.DRILL.value,
        a.status.not_in((AlertStatus.CANCELLED.value, AlertStatus.DRAFT.value)),
        a.created_at >= start,
        a.created_at <= now,
    )


async def list_stations(session: AsyncSession, scope: Collection[str] | None) -> list[StationInfo]:
    """The stations in `scope` (None: all), by code, with their active people counted."""
    s, p = STATION.c, PERSON.c
    people = (
        select(p.station_code, func.count().label("people"))
        .where(p.active.is_(True))
        .group_by(p.station_code)
        .subquery()
    )
    query = (
        select(s.code, s.name, s.country, s.timezone, func.coalesce(people.c.people, 0))
        .outerjoin(people, people.c.station_code == s.code)
        .order_by(s.code)
    )
    if scope is not None:
        query = query.where(s.code.in_(sorted(scope)))
    rows = await session.execute(query)
    return [StationInfo(*row) for row in rows.all()]


async def station_facts(
    session: AsyncSession,
    stations: Sequence[str],
    start: datetime,
    now: datetime,
    focal_point_group: str,
    *,
    latest_drills: int | None = None,
) -> dict[str, StationFacts]:
    """The facts of each of `stations` over [start, now]: every drill's figures, or only those
    of the `latest_drills` latest when given (the times of all are still read)."""
    wanted = set(stations)
    drills = await _drills(session, wanted, start, now)
    chosen = {
        code: found[-latest_drills:] if latest_drills is not None else found
        for code, found in drills.items()
    }
    every = sorted({drill.alert_id for found in drills.values() for drill in found})
    counts = await _recipient_counts(
        session, wanted, sorted({drill.alert_id for found in chosen.values() for drill in found})
    )
    await _add_delays(session, chosen, counts)
    await _add_help(session, wanted, every, counts)
    schedules, missed = await _schedules(session, wanted, start, now)
    focal = await _focal_points(session, wanted, focal_point_group)
    roster = await _roster(session, wanted)
    none = _Counts()
    facts: dict[str, StationFacts] = {}
    for code in stations:
        figures = []
        for drill in chosen.get(code, []):
            count = counts.get((drill.alert_id, code), _Counts())
            figures.append(
                DrillFacts(
                    drill.alert_id,
                    drill.created_at,
                    count.recipients,
                    count.acknowledged,
                    _p90(count),
                    count.help_answers,
                    count.help_listed,
                )
            )
        facts[code] = StationFacts(
            code=code,
            drill_times=tuple(drill.created_at for drill in drills.get(code, [])),
            drills=tuple(figures),
            schedules=schedules.get(code, 0),
            missed_firings=missed.get(code, 0),
            focal_points=focal.get(code, 0),
            focal_point_group=focal_point_group,
            roster=roster.get(code, RosterFacts(0, 0, 0, 0)),
            help_answers=sum(
                counts.get((drill.alert_id, code), none).help_answers
                for drill in drills.get(code, [])
            ),
            help_listed=sum(
                counts.get((drill.alert_id, code), none).help_listed
                for drill in drills.get(code, [])
            ),
        )
    return facts


async def _drills(
    session: AsyncSession, wanted: set[str], start: datetime, now: datetime
) -> dict[str, list[_Drill]]:
    """The drill alerts of the window naming each station, oldest first."""
    a = ALERT.c
    query = select(a.id, a.created_at, a.audience).where(_in_window(start, now))
    found: dict[str, list[_Drill]] = defaultdict(list)
    for alert_id, created_at, audience in (await session.execute(query)).all():
        for code in set((audience or {}).get("stations", [])) & wanted:
            found[code].append(_Drill(alert_id, created_at))
    for drills in found.values():
        drills.sort(key=lambda drill: (drill.created_at, drill.alert_id))
    return found


async def _recipient_counts(
    session: AsyncSession, wanted: set[str], ids: Sequence[int]
) -> dict[tuple[int, str], _Counts]:
    """Recipients and first answers of these drills, per (alert, station)."""
    r = RECIPIENT.c
    counts: dict[tuple[int, str], _Counts] = {}
    for batch in _batches(ids):
        query = (
            select(r.alert_id, r.station_code, func.count(), func.count(r.first_response_at))
            .where(r.alert_id.in_(batch), r.station_code.in_(sorted(wanted)))
            .group_by(r.alert_id, r.station_code)
        )
        for alert_id, code, recipients, acknowledged in (await session.execute(query)).all():
            counts[alert_id, code] = _Counts(int(recipients), int(acknowledged))
    return counts


def _batches(ids: Sequence[int]) -> list[Sequence[int]]:
    """Alert ids in batches of `ID_BATCH`, for statements that name them."""
    return [ids[index : index + ID_BATCH] for index in range(0, len(ids), ID_BATCH)]


async def _add_delays(
    session: AsyncSession, chosen: dict[str, list[_Drill]], counts: dict[tuple[int, str], _Counts]
) -> None:
    """The slowest first answers of the chosen drills' recipients at their station: those from
    the p90's nearest rank on (ranked by the database), as seconds after the drill."""
    created = {drill.alert_id: drill.created_at for found in chosen.values() for drill in found}
    pairs = {(drill.alert_id, code) for code, found in chosen.items() for drill in found}
    r = RECIPIENT.c
    group = (r.alert_id, r.station_code)
    ids = sorted(created)
    for batch in _batches(ids):
        ranked = (
            select(
                r.alert_id,
                r.station_code,
                r.first_response_at,
                func.row_number()
                .over(partition_by=group, order_by=r.first_response_at.desc())
                .label("back"),
                func.count().over(partition_by=group).label("answered"),
            )
            .where(r.alert_id.in_(batch), r.first_response_at.is_not(None))
            .subquery()
        )
        # Past the nearest rank's position from the slowest, with a margin for rounding.
        query = select(ranked).where(ranked.c.back <= ranked.c.answered * (1 - P90) + 2)
        for alert_id, code, answered_at, back, answered in (await session.execute(query)).all():
            if (alert_id, code) in pairs:
                count = counts.setdefault((alert_id, code), _Counts())
                count.answered = int(answered)
                count.slowest[int(back)] = seconds_after(created[alert_id], answered_at) or 0.0


def _p90(count: _Counts) -> float | None:
    """The nearest-rank p90 of the seconds to answer, from the slowest answers read."""
    if not count.answered:
        return None
    return count.slowest[count.answered - nearest_rank(P90, count.answered) + 1]


async def _add_help(
    session: AsyncSession,
    wanted: set[str],
    ids: Sequence[int],
    counts: dict[tuple[int, str], _Counts],
) -> None:
    """Count the recipients of these drills whose latest answer is "help", and those of them
    named on a focal points' list of their station sent after that answer (the escalation
    lists every person whose latest answer is "help" when it is sent)."""
    r, d, p = RECIPIENT.c, DELIVERY.c, PERSON.c
    for batch in _batches(ids):
        help_query = select(r.alert_id, r.station_code, r.last_response_at).where(
            r.alert_id.in_(batch),
            r.response == ResponseKind.HELP.value,
            r.station_code.in_(sorted(wanted)),
        )
        answers = (await session.execute(help_query)).all()
        if not answers:
            continue
        lists_query = (
            select(d.alert_id, p.station_code, func.max(d.sent_at))
            .join(PERSON, p.id == d.person)
            .where(
                d.alert_id.in_(sorted({alert_id for alert_id, _, _ in answers})),
                d.purpose == Purpose.ESCALATION.value,
                d.sent_at.is_not(None),
            )
            .group_by(d.alert_id, p.station_code)
        )
        last_list = {(alert, code): at for alert, code, at in await session.execute(lists_query)}
        for alert_id, code, answered_at in answers:
            count = counts.setdefault((alert_id, code), _Counts())
            count.help_answers += 1
            sent = last_list.get((alert_id, code))
            if sent is not None and answered_at is not None and sent >= answered_at:
                count.help_listed += 1


async def _schedules(
    session: AsyncSession, wanted: set[str], start: datetime, now: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Per station, its drill schedules not paused, and the firings of its schedules missed in
    the window: a missed row stands for a whole gap, whose number only the drill's `missed`
    total keeps, so that total counts when every missed row of the drill is in the window, and
    otherwise each row in the window counts one (at least one firing was missed there)."""
    k, f = DRILL.c, DRILL_FIRING.c
    drills = (await session.execute(select(k.id, k.stations, k.paused, k.missed))).all()
    rows = await session.execute(select(f.drill_id, f.scheduled_at).where(f.missed.is_(True)))
    inside: dict[int, int] = defaultdict(int)
    outside: dict[int, int] = defaultdict(int)
    for drill_id, scheduled_at in rows.all():
        if start <= scheduled_at <= now:
            inside[drill_id] += 1
        else:
            outside[drill_id] += 1
    schedules: dict[str, int] = defaultdict(int)
    missed: dict[str, int] = defaultdict(int)
    for drill_id, stations, paused, total in drills:
        in_window = int(total) if inside[drill_id] and not outside[drill_id] else inside[drill_id]
        for code in set(stations or []) & wanted:
            schedules[code] += 0 if paused else 1
            missed[code] += in_window
    return schedules, missed


async def _focal_points(session: AsyncSession, wanted: set[str], group: str) -> dict[str, int]:
    """The active members of the focal points' group, per station."""
    p = PERSON.c
    query = (
        select(p.station_code, func.count())
        .join(PERSON_GROUP, PERSON_GROUP.c.person == p.id)
        .where(PERSON_GROUP.c.name == group, p.active.is_(True), p.station_code.in_(sorted(wanted)))
        .group_by(p.station_code)
    )
    return {code: int(count) for code, count in await session.execute(query)}


async def _roster(session: AsyncSession, wanted: set[str]) -> dict[str, RosterFacts]:
    """The active people per station, and those reachable by SMS (a phone, not opted out), by
    e-mail, by both."""
    p = PERSON.c
    sms = and_(p.phone.is_not(None), p.phone != "", p.sms_opted_out.is_(False))
    email = and_(p.email.is_not(None), p.email != "")
    query = (
        select(
            p.station_code,
            func.count(),
            func.sum(case((sms, 1), else_=0)),
            func.sum(case((email, 1), else_=0)),
            func.sum(case((and_(sms, email), 1), else_=0)),
        )
        .where(p.active.is_(True), p.station_code.in_(sorted(wanted)))
        .group_by(p.station_code)
    )
    return {
        code: RosterFacts(int(people), int(by_sms), int(by_email), int(both))
        for code, people, by_sms, by_email, both in await session.execute(query)
    }


async def station_report(
    session: AsyncSession, code: str, principal: Principal, settings: Settings, now: datetime
) -> StationReport:
    """The readiness report of station `code` over the configured window ending `now`.

    A station the principal may not read is as absent as one that does not exist.
    """
    if not principal.allows(Action.READ, [code]):
        raise NotFoundError(f"station {code}: no such station")
    found = await list_stations(session, [code])
    if not found:
        raise NotFoundError(f"station {code}: no such station")
    start = window_start(now, settings.readiness)
    facts = await station_facts(session, [code], start, now, settings.escalation.focal_point_group)
    costs = await monthly_costs(session, code, start, now)
    readiness = judge(facts[code], settings.readiness, now)
    return StationReport(found[0], readiness, facts[code], tuple(costs), settings.costs.currency)


async def station_levels(
    session: AsyncSession, principal: Principal, settings: Settings, now: datetime
) -> list[tuple[StationInfo, Readiness]]:
    """Every station the principal may read, by code, with its readiness judged now."""
    stations = await list_stations(session, principal.scope_of(Action.READ))
    start = window_start(now, settings.readiness)
    facts = await station_facts(
        session,
        [station.code for station in stations],
        start,
        now,
        settings.escalation.focal_point_group,
        latest_drills=settings.readiness.sustained_drills,
    )
    return [(station, judge(facts[station.code], settings.readiness, now)) for station in stations]
