"""Queries that add, list, pause, resume, remove and run drill schedules, each change audited.

Admins manage every drill; officers those of their own stations; viewers read. A drill of
stations the caller may not see is as absent as one never added (NotFoundError), and a station
outside an officer's scope is refused as unknown, like one that does not exist. Every change
bumps `drill_schedule_version`, which the scheduler polls to reload the schedules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notifier.access import Action, Principal
from notifier.alert_request import AlertRequest
from notifier.cron import Firing, next_firing, parse_cron, parse_zone
from notifier.domain import AlertKind, Channel, Language, Severity
from notifier.drill_request import DrillRequest
from notifier.errors import FieldError, ForbiddenError, NotFoundError
from notifier.messages import Templates
from notifier.store import alerts, audit
from notifier.store.tables import (
    ALERT,
    DRILL_SCHEDULE_VERSION,
    STATION,
    Alert,
    DrillSchedule,
)


@dataclass(frozen=True, slots=True)
class DrillEntry:
    """A drill schedule with its next firing (None when paused)."""

    drill: DrillSchedule
    next_run: Firing | None


async def add_drill(
    session: AsyncSession, request: DrillRequest, principal: Principal, now: datetime
) -> DrillEntry:
    """Check the request against the stations, groups and the caller's scope; store it."""
    _require_manager(principal, "add drills")
    zones = await _zones_of(session, request.stations, principal)
    zone = _zone(request.timezone, zones)
    schedule = parse_cron(request.cron, zone)
    await _check_groups(session, request.groups, request.stations)
    if await _find(session, request.name) is not None:
        raise FieldError("name", f"a drill named {request.name!r} already exists")
    drill = DrillSchedule(
        name=request.name,
        stations=list(request.stations),
        groups=list(request.groups),
        channels=[channel.value for channel in request.channels],
        cron=schedule.expression,
        timezone=zone.key,
        title=request.title,
        message=request.message,
        created_by=principal.name,
        created_at=now,
        updated_at=now,
    )
    session.add(drill)
    await session.flush()
    audit.record(
        session,
        principal.name,
        "drill.add",
        f"drill:{drill.name}",
        source=principal.source,
        stations=drill.stations,
        cron=drill.cron,
        timezone=drill.timezone,
    )
    await _bump_version(session, now)
    return entry_of(drill, now)


async def list_drills(
    session: AsyncSession, principal: Principal, now: datetime
) -> list[DrillEntry]:
    """The drills the caller may read, by name, each with its next firing after `now`."""
    found = (
        await session.execute(select(DrillSchedule).order_by(col(DrillSchedule.name)))
    ).scalars()
    return [
        entry_of(drill, now) for drill in found if principal.allows(Action.READ, drill.stations)
    ]


async def get_drill(session: AsyncSession, name: str, principal: Principal) -> DrillSchedule:
    """The drill, if it exists and the caller may read it; NotFoundError alike otherwise."""
    drill = await _find(session, name)
    if drill is None or not principal.allows(Action.READ, drill.stations):
        raise NotFoundError(f"drill {name!r} does not exist")
    return drill


async def set_paused(
    session: AsyncSession, name: str, principal: Principal, *, paused: bool, now: datetime
) -> DrillEntry:
    """Pause or resume a drill: a paused drill does not fire, and can still be run by hand."""
    drill = await _managed(session, name, principal, "pause or resume drills")
    if drill.paused != paused:
        drill.paused = paused
        drill.updated_at = now
        action = "drill.pause" if paused else "drill.resume"
        audit.record(
            session, principal.name, action, f"drill:{drill.name}", source=principal.source
        )
        await _bump_version(session, now)
        await session.flush()
    return entry_of(drill, now)


async def remove_drill(
    session: AsyncSession, name: str, principal: Principal, now: datetime
) -> None:
    """Remove a drill; the alerts it raised stay, as drills, no longer linked to it."""
    drill = await _managed(session, name, principal, "remove drills")
    await session.execute(update(ALERT).where(ALERT.c.drill_id == drill.id).values(drill_id=None))
    await session.delete(drill)
    audit.record(
        session,
        principal.name,
        "drill.remove",
        f"drill:{name}",
        source=principal.source,
        stations=drill.stations,
    )
    await _bump_version(session, now)
    await session.flush()


async def run_drill(
    session: AsyncSession, name: str, principal: Principal, templates: Templates
) -> Alert:
    """Raise the drill's alert now, through the same intake as any alert (kind `drill`).

    Without the drill's own words, the templates' `drill.title` (English: one title is shown in
    every language) and `drill.message` in each recipient's language are sent.
    """
    drill = await _managed(session, name, principal, "run drills")
    alert = await alerts.create_alert(session, drill_alert_request(drill, templates), principal)
    alert.drill_id = drill.id
    drill.last_alert_id = alert.id
    audit.record(
        session,
        principal.name,
        "drill.run",
        f"drill:{drill.name}",
        source=principal.source,
        alert=alert.id,
    )
    await session.flush()
    return alert


def drill_alert_request(drill: DrillSchedule, templates: Templates) -> AlertRequest:
    """The alert a drill raises: its own words, or the templates' in every language."""
    english = templates.strings[Language.EN]
    messages = None
    if drill.message is None:
        messages = {
            language.value: words["drill.message"] for language, words in templates.strings.items()
        }
    return AlertRequest(
        title=drill.title or english["drill.title"],
        message=drill.message or english["drill.message"],
        severity=Severity.MINOR,
        kind=AlertKind.DRILL,
        stations=tuple(drill.stations),
        groups=tuple(drill.groups),
        channels=tuple(Channel(channel) for channel in drill.channels),
        messages=messages,
    )


def entry_of(drill: DrillSchedule, now: datetime) -> DrillEntry:
    """The drill with its next firing after `now`, none when it is paused."""
    if drill.paused:
        return DrillEntry(drill, None)
    return DrillEntry(drill, next_firing(parse_cron(drill.cron, ZoneInfo(drill.timezone)), now))


async def schedule_version(session: AsyncSession) -> int:
    """The number of changes made to the drill schedules so far: the scheduler polls it."""
    version = await session.scalar(select(DRILL_SCHEDULE_VERSION.c.version))
    return int(version or 0)


def _require_manager(principal: Principal, what: str) -> None:
    if not principal.may(Action.SEND):  # the role first: a viewer learns nothing of names
        raise ForbiddenError(f"{principal.name} may not {what}")


async def _managed(
    session: AsyncSession, name: str, principal: Principal, what: str
) -> DrillSchedule:
    """The drill, if the caller may manage it: an officer's own stations' only."""
    _require_manager(principal, what)
    drill = await _find(session, name)
    if drill is None or not principal.allows(Action.SEND, drill.stations):
        raise NotFoundError(f"drill {name!r} does not exist")
    return drill


async def _find(session: AsyncSession, name: str) -> DrillSchedule | None:
    query = select(DrillSchedule).where(col(DrillSchedule.name) == name)
    return (await session.execute(query)).scalars().first()


async def _zones_of(
    session: AsyncSession, stations: tuple[str, ...], principal: Principal
) -> dict[str, str]:
    """Each station's time zone; a station unknown or outside the caller's scope is refused."""
    query = select(STATION.c.code, STATION.c.timezone).where(STATION.c.code.in_(stations))
    zones: dict[str, str] = {
        code: zone
        for code, zone in (await session.execute(query)).all()
        if principal.allows(Action.SEND, [code])
    }
    unknown = [code for code in stations if code not in zones]
    if unknown:
        raise FieldError("stations", f"unknown station(s): {', '.join(unknown)}")
    return {code: zones[code] for code in stations}


def _zone(requested: str | None, zones: dict[str, str]) -> ZoneInfo:
    """The zone asked for, or the stations' own when they share one."""
    if requested is not None:
        return parse_zone(requested)
    if len(set(zones.values())) > 1:
        named = ", ".join(f"{code} is {zone}" for code, zone in zones.items())
        raise FieldError("timezone", f"required: {named}")
    return parse_zone(next(iter(zones.values())))


async def _check_groups(
    session: AsyncSession, groups: tuple[str, ...], stations: tuple[str, ...]
) -> None:
    missing = await alerts.groups_without_people(session, groups, stations)
    if missing:
        raise FieldError("groups", f"no one at {', '.join(stations)} is in: {', '.join(missing)}")


async def _bump_version(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        update(DRILL_SCHEDULE_VERSION).values(
            version=DRILL_SCHEDULE_VERSION.c.version + 1, changed_at=now
        )
    )
