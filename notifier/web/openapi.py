"""GET /api/openapi.json: the OpenAPI 3.1 description of every route under /api/v1."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifier import __version__
from notifier.store.alerts import LARGEST_ID
from notifier.web.api import LIST_LIMIT
from notifier.web.audit_api import PAGE_LIMIT
from notifier.web.openapi_schemas import (
    DRILL_NAME_PATTERN,
    SCHEMAS,
    STATION_PATTERN,
    Schema,
    ref,
)

ERRORS = {
    400: "The request is malformed.",
    401: "No bearer token, or one that is unknown or revoked.",
    403: "The token's role or stations do not allow this.",
    404: "No such thing, or one of a station outside the token's scope.",
    409: "The request conflicts with the current state.",
    413: "The body is over `http.max_body_bytes`; the connection is closed.",
    422: "A field is invalid: `error.field` names it.",
}
"""Every error answer, in the shape `{"error": {"code", "message", "field"}}`."""
EXAMPLES = {
    "AlertRequest": {
        "title": "Earthquake",
        "message": "Leave the building by the stairs.",
        "stations": ["NBO"],
        "severity": "extreme",
    },
    "DrillRequest": {"name": "monthly", "stations": ["NBO"], "cron": "0 10 1-7 * mon"},
}
"""A request body of each kind, as the description shows it."""
JSON = "application/json"
CSV = "text/csv; charset=utf-8"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
PNG = "image/png"
CAP = "application/cap+xml"
XML = "application/xml"
CAP_EXAMPLE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">\n'
    "  <identifier>KSTO1055887203</identifier>\n"
    "  <sender>KSTO@NWS.NOAA.GOV</sender>\n"
    "  <sent>2003-06-17T14:57:00-07:00</sent>\n"
    "  <status>Actual</status>\n"
    "  <msgType>Alert</msgType>\n"
    "  <scope>Public</scope>\n"
    "  <info>\n"
    "    <category>Met</category>\n"
    "    <event>SEVERE THUNDERSTORM</event>\n"
    "    <urgency>Immediate</urgency>\n"
    "    <severity>Severe</severity>\n"
    "    <certainty>Observed</certainty>\n"
    "    <area>\n"
    "      <areaDesc>Tuolumne County</areaDesc>\n"
    "      <polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 "
    "38.47,-120.14</polygon>\n"
    "    </area>\n"
    "  </info>\n"
    "</alert>\n"
)
"""A CAP 1.2 message, shortened from the thunderstorm warning of the specification (A.2)."""


def document() -> dict[str, Any]:
    """The whole description, as the JSON object served."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "notifier",
            "version": __version__,
            "description": "Emergency notification: raise, follow and report alerts and drills.",
        },
        "paths": paths(),
        "components": {
            "schemas": {name: build() for name, build in SCHEMAS.items()},
            "responses": {str(status): _error(text) for status, text in ERRORS.items()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def paths() -> dict[str, Any]:
    """Each path under /api/v1, with its operations by method."""
    return {
        "/api/v1/alerts": {"post": _raise_alert(), "get": _list_alerts()},
        "/api/v1/alerts/preview": {"post": _preview()},
        "/api/v1/alerts/{alert_id}": {"get": _show_alert()},
        "/api/v1/alerts/{alert_id}/recipients": {"get": _recipients()},
        "/api/v1/alerts/{alert_id}/cancel": {"post": _end_alert("cancel")},
        "/api/v1/alerts/{alert_id}/close": {"post": _end_alert("close")},
        "/api/v1/alerts/{alert_id}/report": {"get": _report()},
        "/api/v1/alerts/{alert_id}/send": {"post": _send_draft()},
        "/api/v1/alerts/{alert_id}/cap": {"get": _alert_cap()},
        "/api/v1/cap": {"post": _import_cap()},
        "/api/v1/drills": {"get": _list_drills(), "post": _add_drill()},
        "/api/v1/drills/{name}": {"delete": _remove_drill()},
        "/api/v1/drills/{name}/pause": {"post": _drill_change("pause", "paused")},
        "/api/v1/drills/{name}/resume": {"post": _drill_change("resume", "firing again")},
        "/api/v1/drills/{name}/run": {"post": _run_drill()},
        "/api/v1/stations": {"get": _list_stations()},
        "/api/v1/stations/{code}/readiness": {"get": _readiness()},
        "/api/v1/audit": {"get": _audit()},
    }


async def openapi_json(_request: Request) -> JSONResponse:
    """GET /api/openapi.json: the description; no token needed, it holds no data."""
    return JSONResponse(document())


ROUTES = [Route("/api/openapi.json", openapi_json, methods=["GET"])]


def _operation(
    operation_id: str,
    summary: str,
    answers: dict[int, Any],
    errors: tuple[int, ...],
    parameters: list[Schema] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """One operation: its answers by status, then the errors it may give."""
    responses: dict[str, Any] = {str(status): answer for status, answer in answers.items()}
    for status in (401, *errors):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters or [],
        "responses": dict(sorted(responses.items())),
    }
    if body is not None:
        content = {JSON: {"schema": ref(body), "example": EXAMPLES[body]}}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


def _answer(description: str, schema: Schema, headers: tuple[str, ...] = ()) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = {name: {"schema": {"type": "string"}} for name in headers}
    return answer


def _list_of(name: str) -> Schema:
    return {"type": "array", "items": ref(name)}


def _query(name: str, schema: Schema, description: str) -> Schema:
    # Every query parameter given empty (`?limit=`) is taken as not given.
    return {
        "allowEmptyValue": True,
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, schema: Schema, description: str, example: object) -> Schema:
    return {
        "example": example,
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _whole(low: int, high: int, default: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return schema


def _alert_id() -> Schema:
    return _path("alert_id", _whole(1, LARGEST_ID), "the alert's id", 1)


def _drill_name() -> Schema:
    return _path(
        "name", {"type": "string", "pattern": DRILL_NAME_PATTERN}, "the drill's name", "weekly"
    )


def _format(formats: tuple[str, ...]) -> Schema:
    schema = {"type": "string", "enum": list(formats), "default": formats[0]}
    return _query("format", schema, "the answer's format")


def _raise_alert() -> dict[str, Any]:
    return _operation(
        "raiseAlert",
        "Raise an alert: 202 once it is stored; the dispatcher sends it.",
        {202: _answer("The alert is stored.", ref("Accepted"), ("Location",))},
        (400, 403, 413, 422),
        body="AlertRequest",
    )


def _preview() -> dict[str, Any]:
    return _operation(
        "previewAlert",
        "What raising this alert would send, to whom, at what cost; nothing is written.",
        {200: _answer("The preview.", ref("Preview"))},
        (400, 403, 413, 422),
        body="AlertRequest",
    )


def _list_alerts() -> dict[str, Any]:
    statuses = ["active", "draft", "dispatching", "dispatched", "cancelled", "closed"]
    return _operation(
        "listAlerts",
        "The alerts the token may read, newest first.",
        {200: _answer("A page of alerts.", _list_of("AlertRow"))},
        (422,),
        [
            _query("status", {"type": "string", "enum": statuses}, "only alerts in this status"),
            _query("limit", _whole(1, LIST_LIMIT, 100), "how many alerts at most"),
            _query("offset", _whole(0, 10_000_000, 0), "how many to skip"),
            _query("before", _whole(1, LARGEST_ID), "only alerts older than this id"),
        ],
    )


def _show_alert() -> dict[str, Any]:
    return _operation(
        "showAlert",
        "One alert with its counts per channel and state and its answers.",
        {200: _answer("The alert.", ref("AlertDetail"))},
        (404, 422),
        [_alert_id()],
    )


def _recipients() -> dict[str, Any]:
    responses = {"type": "string", "enum": ["safe", "help", "other"]}
    return _operation(
        "alertRecipients",
        "The people an alert reached, with their answers and each channel's state.",
        {200: _answer("A page of recipients.", _list_of("Recipient"))},
        (404, 422),
        [
            _alert_id(),
            _query("acknowledged", {"type": "boolean"}, "only those who answered, or not"),
            _query("station", {"type": "string", "pattern": STATION_PATTERN}, "one station"),
            _query("response", responses, "only those who answered this"),
            _query("limit", _whole(1, 10_000, 1000), "how many at most"),
            _query("offset", _whole(0, 10_000_000, 0), "how many to skip"),
        ],
    )


def _end_alert(verb: str) -> dict[str, Any]:
    summary = {
        "cancel": "Cancel an alert: nothing more is sent; what was sent stays sent.",
        "close": "Close an alert: no more answers, escalation or queued messages.",
    }[verb]
    return _operation(
        f"{verb}Alert",
        summary,
        {200: _answer("The alert's row, as it now is.", ref("AlertHeader"))},
        (403, 404, 422),
        [_alert_id()],
    )


def _report() -> dict[str, Any]:
    content = {
        JSON: {"schema": ref("Report")},
        CSV: {"schema": {"type": "string"}},
        HTML: {"schema": {"type": "string"}},
        PNG: {"schema": {"type": "string", "contentMediaType": PNG}},
    }
    return _operation(
        "alertReport",
        "An alert's report: JSON, CSV (one row per recipient), an HTML page or the curve.",
        {200: {"description": "The report in the format asked for.", "content": content}},
        (404, 422),
        [_alert_id(), _format(("json", "csv", "html", "png"))],
    )


def _send_draft() -> dict[str, Any]:
    return _operation(
        "sendDraft",
        "Send a draft alert (one made from a CAP message): raised now, then dispatched.",
        {202: _answer("The alert is raised.", ref("Accepted"), ("Location",))},
        (403, 404, 409, 422),
        [_alert_id()],
    )


def _alert_cap() -> dict[str, Any]:
    content = {CAP: {"schema": {"type": "string", "contentMediaType": CAP}}}
    return _operation(
        "alertCap",
        "The alert as a CAP 1.2 document: status Exercise for a drill, a Cancel once cancelled.",
        {200: {"description": "The CAP 1.2 document.", "content": content}},
        (404, 422),
        [_alert_id()],
    )


def _import_cap() -> dict[str, Any]:
    document = {"type": "string", "contentMediaType": CAP, "example": CAP_EXAMPLE}
    operation = _operation(
        "importCap",
        "A CAP 1.2 message from outside made a draft alert for the stations in its areas "
        "(or sent or ignored at once by `cap.rules`); the same message again makes no second "
        "draft (200 names the first).",
        {
            201: _answer("The draft made.", ref("CapImported"), ("Location",)),
            200: _answer(
                "The draft an earlier import made, or the rule that ignored the message.",
                {"anyOf": [ref("CapImported"), ref("CapIgnored")]},
            ),
        },
        (403, 409, 413, 422),
    )
    content = {CAP: {"schema": document}, XML: {"schema": document}}
    operation["requestBody"] = {"required": True, "content": content}
    return operation


def _list_drills() -> dict[str, Any]:
    return _operation(
        "listDrills",
        "The drills the token may read, by name, with their next runs.",
        {200: _answer("The drills.", _list_of("Drill"))},
        (),
    )


def _add_drill() -> dict[str, Any]:
    return _operation(
        "addDrill",
        "Add a drill schedule.",
        {201: _answer("The drill as listed.", ref("Drill"), ("Location",))},
        (400, 403, 413, 422),
        body="DrillRequest",
    )


def _remove_drill() -> dict[str, Any]:
    return _operation(
        "removeDrill",
        "Remove a drill schedule; the alerts it raised stay.",
        {204: {"description": "Removed."}},
        (403, 404),
        [_drill_name()],
    )


def _drill_change(verb: str, result: str) -> dict[str, Any]:
    return _operation(
        f"{verb}Drill",
        f"{verb.capitalize()} a drill schedule.",
        {200: _answer(f"The drill, {result}.", ref("Drill"))},
        (403, 404),
        [_drill_name()],
    )


def _run_drill() -> dict[str, Any]:
    return _operation(
        "runDrill",
        "Raise a drill's alert now.",
        {202: _answer("The drill's alert is stored.", ref("Accepted"), ("Location",))},
        (403, 404, 422),
        [_drill_name()],
    )


def _list_stations() -> dict[str, Any]:
    return _operation(
        "listStations",
        "The stations the token may read, by code, each with its readiness level.",
        {200: _answer("The stations.", _list_of("StationLevel"))},
        (),
    )


def _readiness() -> dict[str, Any]:
    content = {
        JSON: {"schema": ref("Readiness")},
        HTML: {"schema": {"type": "string"}},
        TEXT: {"schema": {"type": "string"}},
    }
    code = _path(
        "code", {"type": "string", "pattern": STATION_PATTERN}, "the station's code", "NBO"
    )
    return _operation(
        "stationReadiness",
        "A station's readiness: its level, the criteria behind it, its drills, roster and costs.",
        {200: {"description": "The readiness in the format asked for.", "content": content}},
        (404, 422),
        [code, _format(("json", "html", "text"))],
    )


def _audit() -> dict[str, Any]:
    content = {
        JSON: {"schema": _list_of("AuditEntry")},
        CSV: {"schema": {"type": "string"}},
    }
    since = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    return _operation(
        "auditLog",
        "The audit log, oldest first: pages of JSON, or every entry as one CSV. Admins only.",
        {200: {"description": "Entries.", "content": content}},
        (403, 422),
        [
            _query("since", since, "entries from this day on (UTC)"),
            _format(("json", "csv")),
            _query("limit", _whole(1, PAGE_LIMIT, 100), "JSON: how many entries at most"),
            _query("after", _whole(1, 2**63 - 1), "JSON: entries after this id"),
        ],
    )
