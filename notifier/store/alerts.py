"""Queries that raise, find, cancel and close alerts: each change commits with its audit entry."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notifier import sources
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
from notifier.store.tables import ALERT, DELIVERY, PERSON, PERSON_GROUP, RECIPIENT, STATION, Alert
from notifier.store.types import utc_now
from notifier.translatable import N_

LIST_PAGE = 500
LARGEST_ID = 2**31 - 1
"""The largest alert id: the column is a 32-bit INTEGER on PostgreSQL (asyncpg refuses to bind
a larger number). A larger id names no alert, and is not sent to the database."""
IDS_PER_STATEMENT = 1000
"""Alerts named in one statement: far below what a driver binds (32767 on asyncpg)."""


async def create_alert(
    session: AsyncSession,
    request: AlertRequest,
    principal: Principal,
    *,
    submission: str | None = None,
) -> Alert:
    """Check the request against the roster and the caller's scope, then store the alert.

    People are looked up within the caller's stations only: a person of another station is
    refused as unknown, like one who does not exist, and groups are looked for within the
    stations named. Nothing is learnt of the people of other stations. `submission`, the
    console form's one-time value, is unique: the same value twice fails to flush
    (IntegrityError), and `alert_of_submission` then finds the alert the first raised.
    """
    scope = await check_request(session, request, principal)
    alert = Alert(
        code=await unused_code(session),
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
        submission=submission,
    )
    session.add(alert)
    await session.flush()
    audit.record(
        session,
        principal.name,
        "alert.raise",
        f"alert:{alert.id}",
        source=principal.source,
        kind=alert.kind,
        title=alert.title,
        stations=scope,
    )
    return alert


async def alert_of_submission(session: AsyncSession, submission: str) -> int | None:
    """The id of the alert raised by the console's form of one-time value `submission`."""
    query = select(ALERT.c.id).where(ALERT.c.submission == submission)
    found: int | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def get_alert(session: AsyncSession, alert_id: int, principal: Principal) -> Alert:
    """The alert, if it exists and the caller may read it; NotFoundError alike otherwise.

    An alert of stations the caller may not see is as absent as one never raised.
    """
    alert = await session.get(Alert, alert_id) if 0 < alert_id <= LARGEST_ID else None
    if alert is None or not principal.allows(Action.READ, alert.audience.get("scope", [])):
        raise NotFoundError(f"alert {alert_id} does not exist")
    return alert


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
    before: int | None = None,
) -> list[Alert]:
    """The alerts the caller may read, newest first: `limit` of them, past the first `offset`
    (counted among those the caller may read), older than alert `before` when it is given.

    `active` means dispatching or dispatched. For callers limited to some stations, scopes
    (JSON lists) are filtered here, a page of rows at a time by id, so that an officer's
    offset skips only alerts they may read.
    """
    query = select(Alert).order_by(col(Alert.id).desc())
    if status == "active":
        query = query.where(col(Alert.status).in_(OPEN_ALERT_STATUSES))
    elif status is not None:
        if status not in {member.value for member in AlertStatus}:
            allowed = ", ".join(["active", *(member.value for member in AlertStatus)])
            raise FieldError("status", f"{status!r} is not one of {allowed}")
        query = query.where(col(Alert.status) == status)
    if before is not None:
        query = query.where(col(Alert.id) < before)
    if principal.scope_of(Action.READ) is None:  # reads every station: the database pages
        return list((await session.execute(query.limit(limit).offset(offset))).scalars().all())
    wanted = offset + limit
    readable: list[Alert] = []
    while len(readable) < wanted:
        page = (await session.execute(query.limit(LIST_PAGE))).scalars().all()
        readable += [a for a in page if principal.allows(Action.READ, a.audience.get("scope", []))]
        if len(page) < LIST_PAGE:
            break
        query = query.where(col(Alert.id) < page[-1].id)
    return readable[offset:wanted]


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
    await _cancel_queued(session, [alert_id])
    audit.record(
        session, principal.name, "alert.cancel", f"alert:{alert_id}", source=principal.source
    )
    await session.flush()
    await session.refresh(alert)
    return alert


async def close_alert(session: AsyncSession, alert_id: int, principal: Principal) -> Alert:
    """Close an alert: answers are no longer taken, it escalates no more, nothing queued is sent.

    Closing a closed alert changes nothing; so does closing a cancelled one, which already
    takes no answers and sends nothing: it stays `cancelled`. Rights are those of cancelling.
    """
    if not principal.may(Action.SEND):  # the role first: a viewer learns nothing of ids
        raise ForbiddenError(f"{principal.name} may not close alerts")
    alert = await get_alert(session, alert_id, principal)
    if not principal.allows(Action.SEND, alert.audience.get("scope", [])):
        raise ForbiddenError(f"{principal.name} may not close alert {alert_id}")
    if await _close(session, ALERT.c.id == alert_id, utc_now()):
        audit.record(
            session, principal.name, "alert.close", f"alert:{alert_id}", source=principal.source
        )
        await session.flush()
    await session.refresh(alert)
    return alert


async def close_expired(
    session: AsyncSession, raised_by: datetime, now: datetime, *, source: str | None = None
) -> list[int]:
    """Close every open alert raised at `raised_by` or earlier; the ids of those closed.

    One conditional UPDATE: replicas running it at once close each alert once. Each is audited
    as closed by `notifier`, from `source` (by default this daemon's host).
    """
    closed = await _close(session, ALERT.c.created_at <= raised_by, now)
    where = sources.daemon() if source is None else source
    for alert_id in closed:
        audit.record(
            session, "notifier", "alert.close", f"alert:{alert_id}", source=where, automatic=True
        )
    return closed


async def latest_status_for_phone(session: AsyncSession, phone: str) -> AlertStatus | None:
    """The status of the newest alert sent to someone with this phone number, if any."""
    query = (
        select(ALERT.c.status)
        .join(RECIPIENT, RECIPIENT.c.alert_id == ALERT.c.id)
        .join(PERSON, PERSON.c.id == RECIPIENT.c.person)
        .where(PERSON.c.phone == phone)
        .order_by(ALERT.c.created_at.desc(), ALERT.c.id.desc())
        .limit(1)
    )
    status = await session.scalar(query)
    return None if status is None else AlertStatus(status)


async def _close(session: AsyncSession, which: ColumnElement[bool], now: datetime) -> list[int]:
    """Close the open alerts `which` selects, and cancel their queued deliveries."""
    closed = await session.execute(
        update(ALERT)
        .where(ALERT.c.status.in_(OPEN_ALERT_STATUSES), which)
        .values(status=AlertStatus.CLOSED.value, closed_at=now)
        .returning(ALERT.c.id)
    )
    ids = sorted(closed.scalars())
    await _cancel_queued(session, ids)
    return ids


async def _cancel_queued(session: AsyncSession, alert_ids: Collection[int]) -> None:
    """Mark the alerts' queued deliveries cancelled: they will not be sent; sent ones stay."""
    ordered = sorted(alert_ids)
    for start in range(0, len(ordered), IDS_PER_STATEMENT):
        await session.execute(
            update(DELIVERY)
            .where(
                DELIVERY.c.alert_id.in_(ordered[start : start + IDS_PER_STATEMENT]),
                DELIVERY.c.status == DeliveryStatus.QUEUED.value,
            )
            .values(status=DeliveryStatus.CANCELLED.value)
        )


async def check_request(
    session: AsyncSession, request: AlertRequest, principal: Principal
) -> list[str]:
    """The stations the request concerns, once checked against the roster and the caller's
    scope; writes nothing. Raising and previewing an alert both check with it.

    Unknown stations, groups and people (and people of stations the caller may not alert)
    raise FieldError; a scope outside the caller's raises ForbiddenError.
    """
    await _check_stations(session, request.stations)
    people_stations = await _stations_of_people(
        session, request.people, principal.scope_of(Action.SEND)
    )
    scope = sorted(set(request.stations) | people_stations)
    if not principal.allows(Action.SEND, scope):
        raise ForbiddenError(f"{principal.name} may not alert {', '.join(scope)}")
    await _check_groups(session, request.groups, request.stations)
    return scope


async def _check_stations(session: AsyncSession, stations: Sequence[str]) -> None:
    known = set((await session.execute(select(STATION.c.code))).scalars())
    unknown = sorted(set(stations) - known)
    if unknown:
        raise FieldError(
            "stations", N_("unknown station(s): %(stations)s", stations=", ".join(unknown))
        )


async def _check_groups(
    session: AsyncSession, groups: Sequence[str], stations: Sequence[str]
) -> None:
    missing = sorted(await groups_without_people(session, groups, stations))
    if missing:
        raise FieldError(
            "groups", N_("no one is in group(s): %(groups)s", groups=", ".join(missing))
        )


async def groups_without_people(
    session: AsyncSession, groups: Sequence[str], stations: Sequence[str]
) -> list[str]:
    """The groups, in their order, that no one of the stations is in."""
    if not groups:
        return []
    query = (
        select(PERSON_GROUP.c.name)
        .join(PERSON, PERSON.c.id == PERSON_GROUP.c.person)
        .where(PERSON_GROUP.c.name.in_(groups), PERSON.c.station_code.in_(stations))
        .distinct()
    )
    found = set((await session.execute(query)).scalars())
    return [group for group in groups if group not in found]


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
        raise FieldError(
            "people", N_("unknown person_id(s): %(people)s", people=", ".join(missing))
        )
    return set(found.values())


async def unused_code(session: AsyncSession) -> str:
    """A short code, unused by any open alert, that a reply can name (`1 K7Q2`)."""
    while True:
        code = "".join(secrets.choice(ALERT_CODE_ALPHABET) for _ in range(ALERT_CODE_LENGTH))
        query = select(func.count()).select_from(Alert).where(col(Alert.code) == code)
        if not (await session.execute(query)).scalar():
            return code
