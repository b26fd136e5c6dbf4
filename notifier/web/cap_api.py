"""CAP 1.2 over HTTP: an alert as a CAP document, a CAP message from outside as a draft alert.

GET /api/v1/alerts/{id}/cap answers `application/cap+xml`, the media type of CAP documents
(its `+xml` suffix tells any XML client how to read it); POST /api/v1/cap takes a document in
any content type, read within `MAX_DOCUMENT_BYTES` (413 past it, before more is read). An
invalid document is a 422 whose field is `body` and whose message names the element.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from notifier.access import Action
from notifier.alert_json import alert_header
from notifier.cap.message import CAP_MEDIA_TYPE
from notifier.cap.xml_safety import MAX_DOCUMENT_BYTES, CapError
from notifier.cap_documents import alert_document, import_document
from notifier.domain import AlertStatus
from notifier.errors import FieldError, ForbiddenError
from notifier.web.api import _alert_id, _database, _principal

IMPORT_PATH = "/api/v1/cap"
"""The one API path whose body is XML, read up to `MAX_DOCUMENT_BYTES`."""
IMPORT_LIMIT = MAX_DOCUMENT_BYTES


async def alert_cap(request: Request) -> Response:
    """GET /api/v1/alerts/{id}/cap: the alert as a CAP 1.2 document (404 outside one's stations)."""
    principal = await _principal(request)
    document = await alert_document(
        _database(request), _alert_id(request), principal, request.app.state.settings
    )
    return Response(document, media_type=CAP_MEDIA_TYPE)


async def import_cap(request: Request) -> JSONResponse:
    """POST /api/v1/cap: 201 with the draft made (or the alert a rule raised at once), 200 with
    the draft an earlier import made, or 200 saying which rule ignored the message."""
    principal = await _principal(request)
    if not principal.may(Action.SEND):  # before a byte of the body is read
        raise ForbiddenError(f"{principal.name} may not raise alerts")
    body = await request.body()
    try:
        imported = await import_document(
            _database(request), body, principal, request.app.state.settings
        )
    except CapError as error:
        raise FieldError("body", str(error)) from None
    alert = imported.alert
    if alert is None:
        ignored = f"ignored by rule {imported.rule} of cap.rules: nothing was written"
        return JSONResponse({"ignored": True, "rule": imported.rule, "message": ignored})
    if alert.status != AlertStatus.DRAFT.value and imported.created:
        request.app.state.wake_dispatcher()
    headers = {"Location": f"/api/v1/alerts/{alert.id}"}
    return JSONResponse(
        alert_header(alert) | {"created": imported.created, "rule": imported.rule},
        status_code=201 if imported.created else 200,
        headers=headers,
    )


ROUTES = [
    Route("/api/v1/alerts/{alert_id}/cap", alert_cap, methods=["GET"]),
    Route(IMPORT_PATH, import_cap, methods=["POST"]),
]
