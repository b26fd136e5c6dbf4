"""Draft alerts: made from a CAP message, remembered by its identifier, sent by an officer.

A draft is an alert of status `draft`. Every query that dispatches, escalates, closes or takes
answers selects `dispatching` or `dispatched` alerts, so a draft is left alone by all of them
until `send_draft` turns it into an alert raised at that moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.access import Action, Principal
from notifier.cap.writing import ExportStation
from notifier.cap_import import DraftContent
from notifier.domain import PRIORITY_OF_KIND, AlertKind, AlertStatus, Channel
from notifier.errors import ConflictError, ForbiddenError
from notifier.store import audit
from notifier.store.alerts import get_alert, unused_code
from notifier.store.tables import ALERT, CAP_IMPORT, STATION, Alert, CapImport


@dataclass(frozen=True, slots=True)
class CapOrigin:
    """The CAP message a draft comes from: who sent it, its identifier, when it was sent."""

    sender: str
    identifier: str
    sent: datetime


async def station_places(
    session: AsyncSession, codes: Collection[str] | None = None
) -> list[ExportStation]:
    """(code, name, latitude, longitude) of the stations `codes` (None: all), by code."""
    s = STATION.c
    query = select(s.code, s.name, s.latitude, s.longitude).order_by(s.code)
    if codes is not None:
        query = query.where(s.code.in_(sorted(codes)))
    return [(code, name, lat, lon) for code, name, lat, lon in (await session.execute(query))]


async def imported_draft(session: AsyncSession, origin: CapOrigin) -> int | None:
    """The id of the alert an earlier import of the same CAP message made, if any."""
    query = select(CAP_IMPORT.c.alert_id).where(CAP_IMPORT.c.key == _key(origin))
    found: int | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def create_draft(
    session: AsyncSession,
    content: DraftContent,
    stations: list[str],
    origin: CapOrigin,
    principal: Principal,
) -> Alert:
    """Store a draft alert for `stations` and remember the message it comes from.

    The same message stored twice at once fails to flush (IntegrityError) in the second
    transaction: `imported_draft` then finds the first one's draft.
    """
    if not principal.allows(Action.SEND, stations):
        raise ForbiddenError(f"{principal.name} may not alert {', '.join(stations)}")
    alert = Alert(
        code=await unused_code(session),
        kind=content.kind.value,
        severity=content.severity.value,
        title=content.title,
        message=content.message,
        messages=dict(content.messages),
        audience={"stations": stations, "groups": [], "people": [], "scope": stations},
        channels=[Channel.SMS.value, Channel.EMAIL.value],
        status=AlertStatus.DRAFT.value,
        priority=PRIORITY_OF_KIND[content.kind],
        created_by=principal.name,
    )
    session.add(alert)
    await session.flush()
    assert alert.id is not None
    session.add(
        CapImport(
            key=_key(origin),
            sender=origin.sender,
            identifier=origin.identifier,
            sent=origin.sent,
            alert_id=alert.id,
            imported_by=principal.name,
        )
    )
    await session.flush()
    audit.record(
        session,
        principal.name,
        "alert.draft",
        f"alert:{alert.id}",
        source=principal.source,
        kind=alert.kind,
        title=alert.title,
        stations=stations,
        cap_sender=origin.sender,
        cap_identifier=origin.identifier,
    )
    return alert


async def send_draft(
    session: AsyncSession,
    alert_id: int,
    principal: Principal,
    now: datetime,
    *,
    rule: int | None = None,
) -> Alert:
    """Raise a draft as an alert at `now`: from then on it is dispatched like any other.

    Its raising time becomes `now`, from which escalation, the closing after
    `alerts.auto_close_hours` and the times to acknowledge are counted. A conditional UPDATE:
    two officers sending the same draft at once raise it once; the second is told it is sent.
    `rule`, the number of the `cap.rules` entry that sent it at its import, is audited.
    """
    if not principal.may(Action.SEND):  # the role first: a viewer learns nothing of ids
        raise ForbiddenError(f"{principal.name} may not send alerts")
    alert = await get_alert(session, alert_id, principal)
    if not principal.allows(Action.SEND, alert.audience.get("scope", [])):
        raise ForbiddenError(f"{principal.name} may not send alert {alert_id}")
    sent = await session.execute(
        update(ALERT)
        .where(ALERT.c.id == alert_id, ALERT.c.status == AlertStatus.DRAFT.value)
        .values(status=AlertStatus.DISPATCHING.value, created_at=now)
        .returning(ALERT.c.id)
    )
    if sent.scalar_one_or_none() is None:
        raise ConflictError(f"alert {alert_id} is not a draft: it is {alert.status}")
    audit.record(
        session,
        principal.name,
        "alert.send_draft",
        f"alert:{alert_id}",
        source=principal.source,
        kind=AlertKind(alert.kind).value,
        stations=alert.audience.get("scope", []),
        **({} if rule is None else {"cap_rule": rule}),
    )
    await session.flush()
    await session.refresh(alert)
    return alert


def _key(origin: CapOrigin) -> str:
    """The SHA-256 of sender and identifier, which CAP makes unique together."""
    return hashlib.sha256(f"{origin.sender}\n{origin.identifier}".encode()).hexdigest()
