"""The officers' API under /api/v1: raise, list, inspect and cancel alerts."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifier.access import Principal
from notifier.alert_json import alert_detail, alert_header
from notifier.alert_request import parse_alert_request
from notifier.domain import ResponseKind
from notifier.errors import FieldError, InputError
from notifier.store import alert_views, alerts, tokens
from notifier.store.engine import Database
from notifier.web.errors import UnauthorizedError

MAX_BODY_BYTES = 64 * 1024


async def raise_alert(request: Request) -> JSONResponse:
    """POST /api/v1/alerts: 202 once the alert is durable; the dispatcher is woken at once."""
    principal = await _principal(request)
    alert_request = parse_alert_request(await _json_body(request))
    async with _database(request).session() as session:
        alert = await alerts.create_alert(session, alert_request, principal)
        assert alert.id is not None
        audience = await alert_views.audience_size(session, alert.id)
    request.app.state.wake_dispatcher()
    body = {
        "id": alert.id,
        "code": alert.code,
        "kind": alert.kind,
        "status": alert.status,
        "recipients": audience,
    }
    return JSONResponse(body, status_code=202, headers={"Location": f"/api/v1/alerts/{alert.id}"})


async def list_alerts(request: Request) -> JSONResponse:
    """GET /api/v1/alerts[?status=active]: the newest alerts the caller may see."""
    principal = await _principal(request)
    async with _database(request).session(read_only=True) as session:
        found = await alerts.list_alerts(
            session, principal, status=request.query_params.get("status")
        )
    return JSONResponse([alert_header(alert) for alert in found])


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
            station=(query.get("station") or "").upper() or None,
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


ROUTES = [
    Route("/api/v1/alerts", raise_alert, methods=["POST"]),
    Route("/api/v1/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}", show_alert, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/recipients", alert_recipients, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/cancel", cancel_alert, methods=["POST"]),
]


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _principal(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send the API token as `Authorization: Bearer TOKEN`")
    async with _database(request).session() as session:
        principal = await tokens.principal_for(session, token.strip())
    if principal is None:
        raise UnauthorizedError("the API token is not valid")
    return principal


async def _json_body(request: Request) -> object:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise InputError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FieldError("body", f"not valid JSON: {error}") from None


def _alert_id(request: Request) -> int:
    raw = request.path_params["alert_id"]
    if not str(raw).isdigit():
        raise FieldError("id", f"{raw!r} is not an alert id")
    return int(raw)


def _optional_bool(value: str | None, field: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise FieldError(field, f"expected true or false, got {value!r}")


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
    if not value.isdigit() or not low <= int(value) <= high:
        raise FieldError(field, f"expected a whole number from {low} to {high}")
    return int(value)
