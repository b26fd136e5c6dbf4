"""Queries that raise, find and cancel alerts: intake is one transaction with its audit entry."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notifier.access import Action, Principal
from notifier.alert_request import AlertRequest
from notifier.domain import (
    ALERT_CODE_ALPHABET,
    ALERT_CODE_LENGTH,
    OPEN_ALERT_STATUSES,
    PRIORITY_OF_KIND,
    AlertStatus,
    DeliveryStatus,
)
from notifier.errors import FieldError, ForbiddenError, NotFoundError
from notifier.store import audit
from notifier.store.tables import DELIVERY, PERSON, PERSON_GROUP, STATION, Alert
from notifier.store.types import utc_now

LIST_PAGE = 500
LARGEST_ID = 2**31 - 1
"""The largest alert id: the column is a 32-bit INTEGER on PostgreSQL (asyncpg refuses to bind
a larger number). A larger id names no alert, and is not sent to the database."""


async def create_alert(session: AsyncSession, request: AlertRequest, principal: Principal) -> Alert:
    """Check the request against the roster and the caller's scope, then store the alert.

    People are looked up within the caller's stations only: a person of another station is
    refused as unknown, like one who does not exist, and groups are looked for within the
    stations named. Nothing is learnt of the people of other stations.
    """
    await _check_stations(session, request.stations)
    people_stations = await _stations_of_people(
        session, request.people, principal.scope_of(Action.SEND)
    )
    scope = sorted(set(request.stations) | people_stations)
    if not principal.allows(Action.SEND, scope):
        raise ForbiddenError(f"{principal.name} may not alert {', '.join(scope)}")
    await _check_groups(session, request.groups, request.stations)
    alert = Alert(
        code=await _unused_code(session),
        kind=request.kind.value,
        severity=request.severity.value,
        title=request.title,
        message=request.message,
        messages=request.texts,
        audience={
            "stations": list(request.stations),
            "groups": list(request.groups),
            "people": list(request.people),
            "scope": scope,
        },
        channels=[channel.value for channel in request.channels],
        status=AlertStatus.DISPATCHING.value,
        priority=PRIORITY_OF_KIND[request.kind],
        created_by=principal.name,
    )
    session.add(alert)
    await session.flush()
    audit.record(
        session,
        principal.name,
        "alert.raise",
        f"alert:{alert.id}",
        kind=alert.kind,
        title=alert.title,
        stations=scope,
    )
    return alert


async def get_alert(session: AsyncSession, alert_id: int, principal: Principal) -> Alert:
    """The alert, if it exists and the caller may read it; NotFoundError alike otherwise.

    An alert of stations the caller may not see is as absent as one never raised.
    """
    alert = await session.get(Alert, alert_id) if 0 < alert_id <= LARGEST_ID else None
    if alert is None or not principal.allows(Action.READ, alert.audience.get("scope", [])):
        raise NotFoundError(f"alert {alert_id} does not exist")
    return alert


async def list_alerts(
    session: AsyncSession, principal: Principal, *, status: str | None = None, limit: int = 100
) -> list[Alert]:
    """The newest `limit` alerts the caller may read; `active` means dispatching or dispatched."""
    query = select(Alert).order_by(col(Alert.id).desc())
    if status == "active":
        query = query.where(col(Alert.status).in_(OPEN_ALERT_STATUSES))
    elif status is not None:
        if status not in {member.value for member in AlertStatus}:
            allowed = ", ".join(["active", *(member.value for member in AlertStatus)])
            raise FieldError("status", f"{status!r} is not one of {allowed}")
        query = query.where(col(Alert.status) == status)
    readable: list[Alert] = []
    offset = 0
    while len(readable) < limit:  # scopes are JSON lists: filter page by page
        page = (await session.execute(query.limit(LIST_PAGE).offset(offset))).scalars().all()
        readable += [a for a in page if principal.allows(Action.READ, a.audience.get("scope", []))]
        if len(page) < LIST_PAGE:
            break
        offset += LIST_PAGE
    return readable[:limit]


async def cancel_alert(session: AsyncSession, alert_id: int, principal: Principal) -> Alert:
    """Stop an alert: its queued deliveries are cancelled; messages already sent stay sent."""
    if not principal.may(Action.SEND):  # the role first: a viewer learns nothing of ids
        raise ForbiddenError(f"{principal.name} may not cancel alerts")
    alert = await get_alert(session, alert_id, principal)
    if not principal.allows(Action.SEND, alert.audience.get("scope", [])):
        raise ForbiddenError(f"{principal.name} may not cancel alert {alert_id}")
    if alert.status in (AlertStatus.CANCELLED, AlertStatus.CLOSED):
        return alert
    alert.status = AlertStatus.CANCELLED.value
    alert.cancelled_at = utc_now()
    await session.execute(
        update(DELIVERY)
        .where(DELIVERY.c.alert_id == alert_id, DELIVERY.c.status == DeliveryStatus.QUEUED.value)
        .values(status=DeliveryStatus.CANCELLED.value)
    )
    audit.record(session, principal.name, "alert.cancel", f"alert:{alert_id}")
    await session.flush()
    await session.refresh(alert)
    return alert


async def _check_stations(session: AsyncSession, stations: Sequence[str]) -> None:
    known = set((await session.execute(select(STATION.c.code))).scalars())
    unknown = sorted(set(stations) - known)
    if unknown:
        raise FieldError("stations", f"unknown station(s): {', '.join(unknown)}")


async def _check_groups(
    session: AsyncSession, groups: Sequence[str], stations: Sequence[str]
) -> None:
    if not groups:
        return
    query = (
        select(PERSON_GROUP.c.name)
        .join(PERSON, PERSON.c.id == PERSON_GROUP.c.person)
        .where(PERSON_GROUP.c.name.in_(groups), PERSON.c.station_code.in_(stations))
        .distinct()
    )
    found = set((await session.execute(query)).scalars())
    missing = sorted(set(groups) - found)
    if missing:
        raise FieldError("groups", f"no one is in group(s): {', '.join(missing)}")


async def _stations_of_people(
    session: AsyncSession, people: Sequence[str], stations: frozenset[str] | None
) -> set[str]:
    """The stations of the people named, among `stations` (None: all); FieldError if any is not."""
    if not people:
        return set()
    query = select(PERSON.c.person_id, PERSON.c.station_code).where(PERSON.c.person_id.in_(people))
    if stations is not None:
        query = query.where(PERSON.c.station_code.in_(sorted(stations)))
    found: dict[str, str] = dict((await session.execute(query)).all())
    missing = sorted(set(people) - set(found))
    if missing:
        raise FieldError("people", f"unknown person_id(s): {', '.join(missing)}")
    return set(found.values())


async def _unused_code(session: AsyncSession) -> str:
    """A short code, unused by any open alert, that a reply can name (`1 K7Q2`)."""
    while True:
        code = "".join(secrets.choice(ALERT_CODE_ALPHABET) for _ in range(ALERT_CODE_LENGTH))
        query = select(func.count()).select_from(Alert).where(col(Alert.code) == code)
        if not (await session.execute(query)).scalar():
            return code
