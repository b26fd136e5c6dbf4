"""The officers' API under /api/v1: raise, list, inspect, cancel and close alerts, send drafts."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifier.access import Action, Principal, token_digest
from notifier.alert_json import accepted_body, alert_detail, alert_header, alert_row
from notifier.alert_request import STATION_CODE, parse_alert_request
from notifier.domain import ResponseKind
from notifier.errors import FieldError, ForbiddenError, NotFoundError
from notifier.store import alert_views, alerts, drafts
from notifier.store.engine import Database
from notifier.store.tables import Alert
from notifier.web.errors import UnauthorizedError
from notifier.web.principals import principal_by_digest

_ID_DIGITS = len(str(alerts.LARGEST_ID))
LIST_LIMIT = 1000
"""The most alerts one page of GET /api/v1/alerts holds."""


async def raise_alert(request: Request) -> JSONResponse:
    """POST /api/v1/alerts: 202 once the alert is durable; the dispatcher is woken at once."""
    principal = await _principal(request)
    if not principal.may(Action.SEND):  # before a byte of the body is read
        raise ForbiddenError(f"{principal.name} may not raise alerts")
    alert_request = parse_alert_request(await _json_body(request))
    return await _raised(
        request, lambda session: alerts.create_alert(session, alert_request, principal)
    )


async def list_alerts(request: Request) -> JSONResponse:
    """GET /api/v1/alerts[?status=active&limit=100&offset=0&before=ID]: newest first.

    `limit` (1 to 1000, default 100) alerts past the first `offset`; `before=ID` lists only
    alerts older than ID, a cursor that stays put while new alerts are raised.
    """
    principal = await _principal(request)
    query = request.query_params
    limit = _bounded_int(query.get("limit"), "limit", 100, 1, LIST_LIMIT)
    offset = _bounded_int(query.get("offset"), "offset", 0, 0, 10_000_000)
    before = query.get("before")
    before_id = None if before is None else _bounded_int(before, "before", 0, 1, alerts.LARGEST_ID)
    async with _database(request).session(read_only=True) as session:
        found = await alerts.list_alerts(
            session,
            principal,
            status=query.get("status"),
            limit=limit,
            offset=offset,
            before=before_id,
        )
    return JSONResponse([alert_row(alert) for alert in found])


async def show_alert(request: Request) -> JSONResponse:
    """GET /api/v1/alerts/{id}: the alert with its counts per channel and state and its answers."""
    principal = await _principal(request)
    async with _database(request).session(read_only=True) as session:
        alert = await alerts.get_alert(session, _alert_id(request), principal)
        counts = await alert_views.alert_counts(session, alert)
        audience = None
        if alert.materialised_at is None and alert.id is not None:
            # Until the whole audience is in the outbox, show its size, as the 202 did.
            audience = await alert_views.audience_size(session, alert.id)
    return JSONResponse(alert_detail(alert, counts, audience))


async def alert_recipients(request: Request) -> JSONResponse:
    """GET /api/v1/alerts/{id}/recipients[?acknowledged=false&station=NBO&response=help&…]."""
    principal = await _principal(request)
    query = request.query_params
    acknowledged = _optional_bool(query.get("acknowledged"), "acknowledged")
    response = _optional_response(query.get("response"))
    async with _database(request).session(read_only=True) as session:
        alert = await alerts.get_alert(session, _alert_id(request), principal)
        assert alert.id is not None
        rows = await alert_views.recipients(
            session,
            alert.id,
            acknowledged=acknowledged,
            station=_optional_station(query.get("station")),
            response=response,
            limit=_bounded_int(query.get("limit"), "limit", 1000, 1, 10_000),
            offset=_bounded_int(query.get("offset"), "offset", 0, 0, 10_000_000),
        )
    return JSONResponse(
        [
            {
                "person_id": row.person_id,
                "name": row.name,
                "station": row.station,
                "phone": row.phone,
                "response": row.response,
                "acknowledged_at": row.acknowledged_at,
                "channels": row.channels,
                "latest_text": row.latest_text,
            }
            for row in rows
        ]
    )


async def cancel_alert(request: Request) -> JSONResponse:
    """POST /api/v1/alerts/{id}/cancel: nothing more is sent; what was sent stays sent."""
    principal = await _principal(request)
    async with _database(request).session() as session:
        alert = await alerts.cancel_alert(session, _alert_id(request), principal)
    return JSONResponse(alert_header(alert))


async def close_alert(request: Request) -> JSONResponse:
    """POST /api/v1/alerts/{id}/close: no more answers, escalation or queued messages."""
    principal = await _principal(request)
    async with _database(request).session() as session:
        alert = await alerts.close_alert(session, _alert_id(request), principal)
    return JSONResponse(alert_header(alert))


async def send_draft(request: Request) -> JSONResponse:
    """POST /api/v1/alerts/{id}/send: a draft raised now (202); 409 when it is no draft."""
    principal = await _principal(request)
    now = request.app.state.clock.now()
    return await _raised(
        request, lambda session: drafts.send_draft(session, _alert_id(request), principal, now)
    )


async def _raised(
    request: Request, raise_it: Callable[[AsyncSession], Awaitable[Alert]]
) -> JSONResponse:
    """202 with what `POST /api/v1/alerts` answers, for the alert `raise_it` raises in a
    transaction; the dispatcher woken once it is committed."""
    async with _database(request).session() as session:
        alert = await raise_it(session)
        assert alert.id is not None
        audience = await alert_views.audience_size(session, alert.id)
        fallback = await alert_views.fallback_counts(session, alert)
    request.app.state.wake_dispatcher()
    body = accepted_body(alert, audience, fallback)
    return JSONResponse(body, status_code=202, headers={"Location": f"/api/v1/alerts/{alert.id}"})


ROUTES = [
    Route("/api/v1/alerts", raise_alert, methods=["POST"]),
    Route("/api/v1/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}", show_alert, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/recipients", alert_recipients, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/cancel", cancel_alert, methods=["POST"]),
    Route("/api/v1/alerts/{alert_id}/close", close_alert, methods=["POST"]),
    Route("/api/v1/alerts/{alert_id}/send", send_draft, methods=["POST"]),
]


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _principal(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send the API token as `Authorization: Bearer TOKEN`")
    principal = await principal_by_digest(request, token_digest(token.strip()))
    if principal is None:
        raise UnauthorizedError("the API token is not valid")
    return principal


async def _json_body(request: Request) -> object:
    """The body as JSON: read within `http.max_body_bytes` (413 past it, by `BodyLimit`)."""
    body = await request.body()
    try:
        payload = json.loads(body)
        # A lone surrogate (`"\ud800"`) decodes, but can be neither stored nor echoed back.
        json.dumps(payload, ensure_ascii=False).encode()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FieldError("body", f"not valid JSON: {error}") from None
    except UnicodeEncodeError:
        raise FieldError("body", "text holds a lone surrogate (\\ud800 to \\udfff)") from None
    except ValueError:  # a number of more digits than Python converts (4300)
        raise FieldError("body", "a number in the body has too many digits") from None
    except RecursionError:
        raise FieldError("body", "the JSON is nested too deeply") from None
    return payload


def _alert_id(request: Request) -> int:
    raw = str(request.path_params["alert_id"])
    if not (raw.isascii() and raw.isdigit()):
        raise FieldError("id", f"{raw!r} is not an alert id")
    digits = raw.lstrip("0") or "0"
    if len(digits) > _ID_DIGITS:  # past any id the database can hold
        raise NotFoundError(f"alert {raw} does not exist")
    return int(digits)


def _optional_bool(value: str | None, field: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise FieldError(field, f"expected true or false, got {value!r}")


def _optional_station(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not STATION_CODE.fullmatch(value.upper()):
        raise FieldError("station", f"expected a station code, got {value!r}")
    return value.upper()


def _optional_response(value: str | None) -> ResponseKind | None:
    if value is None or value == "":
        return None
    try:
        return ResponseKind(value.lower())
    except ValueError:
        choices = ", ".join(kind.value for kind in ResponseKind)
        raise FieldError("response", f"expected one of {choices}, got {value!r}") from None


def _bounded_int(value: str | None, field: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    digits = value.lstrip("0") or "0"
    if not (
        value.isascii()
        and value.isdigit()
        and len(digits) <= len(str(high))
        and low <= int(digits) <= high
    ):
        raise FieldError(field, f"expected a whole number from {low} to {high}")
    return int(digits)
