"""Raise the drill firings that are due, once each however many schedulers ask at the same time.

A firing is a `drill_firing` row keyed by (drill, scheduled time), inserted in the transaction
that raises its alert: a second scheduler finds the key taken and raises nothing. The drills are
also locked for the transaction (`FOR UPDATE` on PostgreSQL; SQLite has one writer at a time),
so a second scheduler waits, then sees the firings the first recorded. The missed firings of one
gap are recorded as one row, at the latest of them (`missed` true), their number added to the
drill's `missed`.

What is due for a drill starts after its latest recorded firing, and never before its last
change (added, paused, resumed): a paused drill is not expected to fire, so the firings that
fell while it was paused are neither raised nor counted as missed once it is resumed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notifier import sources
from notifier.access import Principal
from notifier.cron import Firing, parse_cron
from notifier.domain import Role
from notifier.drill_firings import due_firings
from notifier.errors import NotifierError
from notifier.messages import Templates
from notifier.store import alerts, audit
from notifier.store.drills import drill_alert_request
from notifier.store.outbox import insert_ignoring_duplicates
from notifier.store.tables import DrillFiring, DrillSchedule, metadata

SCHEDULER = Principal("scheduler", Role.ADMIN, source=sources.daemon())
DRILL_FIRING = metadata.tables[DrillFiring.__tablename__]


async def fire_due(
    session: AsyncSession,
    now: datetime,
    grace: timedelta,
    templates: Templates,
    principal: Principal = SCHEDULER,
) -> list[int]:
    """Raise every due firing of the drills not paused, count the missed; the alerts raised.

    A firing more than `grace` late is recorded as missed and counted in the drill's `missed`,
    as is one whose alert can no longer be raised (its stations or groups are gone).
    """
    query = (
        select(DrillSchedule)
        .where(col(DrillSchedule.paused).is_(False))
        .order_by(col(DrillSchedule.id))
        .with_for_update()
    )
    drills = list((await session.execute(query)).scalars())
    latest = await _latest_firings(session)
    raised: list[int] = []
    for drill in drills:
        assert drill.id is not None
        start = max(latest.get(drill.id, drill.updated_at), drill.updated_at)
        due = due_firings(parse_cron(drill.cron, ZoneInfo(drill.timezone)), start, now, grace)
        if due.last_missed is not None and await _record(session, drill, due.last_missed):
            drill.missed += due.missed
        for firing in due.fire:
            alert_id = await _raise(session, drill, firing, now, templates, principal)
            if alert_id is not None:
                raised.append(alert_id)
    await session.flush()
    return raised


async def _latest_firings(session: AsyncSession) -> dict[int, datetime]:
    """Each drill's latest recorded firing (raised or missed), by drill id."""
    query = select(DRILL_FIRING.c.drill_id, func.max(DRILL_FIRING.c.scheduled_at)).group_by(
        DRILL_FIRING.c.drill_id
    )
    return {drill_id: latest for drill_id, latest in (await session.execute(query)).all()}


async def _record(
    session: AsyncSession, drill: DrillSchedule, firing: Firing, *, missed: bool = True
) -> int | None:
    """Insert the firing's row; its id, or None when another scheduler recorded it first."""
    statement = (
        insert_ignoring_duplicates(session, DRILL_FIRING)
        .values(drill_id=drill.id, scheduled_at=firing.utc, missed=missed)
        .returning(DRILL_FIRING.c.id)
    )
    found: int | None = (await session.execute(statement)).scalar_one_or_none()
    return found


async def _raise(
    session: AsyncSession,
    drill: DrillSchedule,
    firing: Firing,
    now: datetime,
    templates: Templates,
    principal: Principal,
) -> int | None:
    """Record the firing and raise its alert; the alert's id, or None if it was not raised."""
    firing_id = await _record(session, drill, firing, missed=False)
    if firing_id is None:
        return None
    target = f"drill:{drill.name}"
    try:
        alert = await alerts.create_alert(session, drill_alert_request(drill, templates), principal)
    except NotifierError as error:  # refused before anything is added: the session is clean
        await session.execute(
            update(DRILL_FIRING).where(DRILL_FIRING.c.id == firing_id).values(missed=True)
        )
        drill.missed += 1
        audit.record(
            session, principal.name, "drill.fail", target, source=principal.source, error=str(error)
        )
        return None
    alert.drill_id = drill.id
    drill.last_alert_id = alert.id
    await session.flush()
    await session.execute(
        update(DRILL_FIRING)
        .where(DRILL_FIRING.c.id == firing_id)
        .values(alert_id=alert.id, fired_at=now)
    )
    audit.record(
        session,
        principal.name,
        "drill.fire",
        target,
        source=principal.source,
        alert=alert.id,
        scheduled=firing.utc.isoformat(),
    )
    assert alert.id is not None
    return alert.id
