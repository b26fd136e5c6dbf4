"""CAP documents in and out: an alert of the database written as CAP, a CAP message made a draft.

The API (`notifier.web.cap_api`) and the command line (`notifier.cap_commands`) both call
these, so a document reads the same whichever way it is asked for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.access import Action, Principal
from notifier.cap.areas import stations_in_message
from notifier.cap.message import CapMessage
from notifier.cap.reading import read_cap
from notifier.cap.writing import write_cap
from notifier.cap_export import cap_export, cap_sender
from notifier.cap_import import draft_content, geocode_stations, matching_rule
from notifier.errors import ConflictError, FieldError, ForbiddenError
from notifier.settings import Settings
from notifier.store import alerts, drafts
from notifier.store.drafts import CapOrigin
from notifier.store.engine import Database
from notifier.store.tables import Alert
from notifier.store.types import utc_now


@dataclass(frozen=True, slots=True)
class Imported:
    """What importing a CAP message did.

    `alert` is the draft it made (`created`), or the one an earlier import made, or the alert
    raised at once by `rule` (`cap.rules`, numbered from 1); None when `rule` ignored it.
    """

    alert: Alert | None
    created: bool
    rule: int | None = None


async def alert_document(
    database: Database, alert_id: int, principal: Principal, settings: Settings
) -> bytes:
    """The CAP 1.2 document of an alert the caller may read (NotFoundError otherwise)."""
    async with database.session(read_only=True) as session:
        alert = await alerts.get_alert(session, alert_id, principal)
        stations = await drafts.station_places(session, alert.audience.get("scope", []))
    return write_cap(cap_export(alert, stations, cap_sender(settings)))


async def import_document(
    database: Database, data: bytes, principal: Principal, settings: Settings
) -> Imported:
    """Make a draft alert of a CAP document for the caller's stations inside its areas.

    CapError (an InputError) when the document is not valid CAP 1.2 or not one to import;
    FieldError("body") when none of the caller's stations is in its areas; nothing is written
    then. The same message (sender and identifier) imported again makes no second draft. A
    matching `cap.rules` entry ignores the message, or sends its alert at once.
    """
    if not principal.may(Action.SEND):
        raise ForbiddenError(f"{principal.name} may not raise alerts")
    message = await asyncio.to_thread(read_cap, data)  # a large document holds up nothing
    return await import_message(database, message, principal, settings)


async def import_message(
    database: Database, message: CapMessage, principal: Principal, settings: Settings
) -> Imported:
    """Make a draft alert of a CAP message read already, as `import_document` does."""
    if not principal.may(Action.SEND):
        raise ForbiddenError(f"{principal.name} may not raise alerts")
    matched = matching_rule(message, settings.cap.rules)
    if matched is not None and matched[1].action == "ignore":
        return Imported(None, created=False, rule=matched[0])
    content = draft_content(message)
    sent = message.sent if message.sent.tzinfo else message.sent.replace(tzinfo=UTC)
    origin = CapOrigin(message.sender, message.identifier, sent)
    try:
        async with database.session() as session:
            earlier = await drafts.imported_draft(session, origin)
            if earlier is not None:
                return await _imported_before(session, earlier, principal)
            stations = await _stations_inside(session, message, principal, settings)
            alert = await drafts.create_draft(session, content, stations, origin, principal)
            if matched is None:
                return Imported(alert, created=True)
            assert alert.id is not None
            now = utc_now()
            raised = await drafts.send_draft(session, alert.id, principal, now, rule=matched[0])
            return Imported(raised, created=True, rule=matched[0])
    except IntegrityError:  # the same message, imported at the same moment by another caller
        async with database.session(read_only=True) as session:
            earlier = await drafts.imported_draft(session, origin)
            if earlier is None:
                raise
            return await _imported_before(session, earlier, principal)


async def _imported_before(session: AsyncSession, alert_id: int, principal: Principal) -> Imported:
    """The draft of an earlier import, unless the caller may not see it (then only a 409)."""
    alert = await session.get(Alert, alert_id)
    if alert is None or not principal.allows(Action.READ, alert.audience.get("scope", [])):
        raise ConflictError("this CAP message (its sender and identifier) was imported already")
    return Imported(alert, created=False)


async def _stations_inside(
    session: AsyncSession, message: CapMessage, principal: Principal, settings: Settings
) -> list[str]:
    """The codes of the caller's stations inside the message's areas; FieldError if none."""
    places = await drafts.station_places(session)
    table = geocode_stations(message, settings.cap.geocodes)
    matched = stations_in_message(message, [(c, lat, lon) for c, _, lat, lon in places], table)
    scope = principal.scope_of(Action.SEND)
    mine = [code for code in matched if scope is None or code in scope]
    if not mine:
        areas = "; ".join(area.area_desc for area in message.areas) or "none"
        raise FieldError(
            "body",
            "no station is inside the message's areas (by coordinates, or by a geocode of "
            f"cap.geocodes): nothing was written; areas: {areas}",
        )
    return mine
