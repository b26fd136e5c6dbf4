"""The JSON Schemas of the API's bodies, for its OpenAPI description (data only)."""

from __future__ import annotations

from typing import Any

from notifier.alert_request import MAX_MESSAGE, MAX_NAMES, MAX_TITLE, OFFICER_CHANNELS
from notifier.cron import MAX_EXPRESSION
from notifier.domain import AlertKind, AlertStatus, Channel, Language, ResponseKind, Severity
from notifier.drill_request import MAX_NAME

Schema = dict[str, Any]

STATION_PATTERN = "^[A-Za-z0-9]{2,8}$"
DRILL_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
TEXT_PATTERN = "^[^\\u0000]*\\S[^\\u0000]*$"
"""Text with something besides white space, and no NUL character (no column takes it)."""


def ref(name: str) -> Schema:
    """A reference to the schema `name` among the components."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: Schema, *, optional: tuple[str, ...] = ()) -> Schema:
    """An object of `properties`, every one present unless named `optional`."""
    required = [name for name in properties if name not in optional]
    return {"type": "object", "properties": properties, "required": required}


def nullable(schema: Schema) -> Schema:
    """`schema`, or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def counts() -> Schema:
    """An object of names to whole numbers."""
    return {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}


_OFFICER_CHANNELS: Schema = {"type": "string", "enum": list(OFFICER_CHANNELS)}
"""The channels an officer names (WhatsApp is a person's choice, in the roster)."""


def _enum(members: type[Any]) -> Schema:
    return {"type": "string", "enum": [member.value for member in members]}


def _text(limit: int) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": TEXT_PATTERN}


def _names(item: Schema, *, least: int = 0) -> Schema:
    """A list of names, or the same as one text of names separated by commas."""
    listed = {"type": "array", "items": item, "minItems": least, "maxItems": MAX_NAMES}
    return {"anyOf": [listed, {"type": "string", "description": "names separated by commas"}]}


_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_COUNT = {"type": "integer", "minimum": 0}
_NUMBER = {"type": "number"}
_TIME = {"type": "string", "format": "date-time"}
_STATION = {"type": "string", "pattern": STATION_PATTERN}
_PERSON = {"type": "string", "minLength": 1, "pattern": TEXT_PATTERN}
_GROUP = {"type": "string", "minLength": 1, "pattern": TEXT_PATTERN}


def error() -> Schema:
    """Every error's body: a code, a message, and the field at fault when there is one."""
    return obj(
        {"error": obj({"code": _STRING, "message": _STRING, "field": _STRING}, optional=("field",))}
    )


def alert_request() -> Schema:
    """POST /api/v1/alerts: the alert to raise; stations or people name its audience."""
    schema = obj(
        {
            "title": _text(MAX_TITLE),
            "message": _text(MAX_MESSAGE),
            "severity": nullable(_enum(Severity)),
            "kind": nullable(_enum(AlertKind)),
            "stations": _names(_STATION),
            "groups": _names(_GROUP),
            "people": _names(_PERSON),
            "channels": _names(_OFFICER_CHANNELS, least=1),
            "messages": nullable(
                {
                    "type": "object",
                    "propertyNames": _enum(Language),
                    "additionalProperties": _text(MAX_MESSAGE),
                }
            ),
        },
        optional=("severity", "kind", "stations", "groups", "people", "channels", "messages"),
    )
    schema["additionalProperties"] = False
    return schema


def drill_request() -> Schema:
    """POST /api/v1/drills: a drill schedule to add."""
    schema = obj(
        {
            "name": {"type": "string", "pattern": DRILL_NAME_PATTERN, "maxLength": MAX_NAME},
            "stations": _names(_STATION, least=1),
            "cron": {"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION},
            "timezone": nullable({"type": "string", "description": "an IANA time zone name"}),
            "groups": _names(_GROUP),
            "channels": _names(_OFFICER_CHANNELS, least=1),
            "title": nullable({"type": "string", "maxLength": MAX_TITLE}),
            "message": nullable({"type": "string", "maxLength": MAX_MESSAGE}),
        },
        optional=("timezone", "groups", "channels", "title", "message"),
    )
    schema["additionalProperties"] = False
    return schema


def accepted() -> Schema:
    """The 202 answer to a new alert: its id, its audience's size and the fall-backs."""
    return obj(
        {
            "id": _INTEGER,
            "code": _STRING,
            "kind": _enum(AlertKind),
            "status": _enum(AlertStatus),
            "recipients": _COUNT,
            "fallback": counts(),
        }
    )


def preview() -> Schema:
    """What raising an alert would send, to whom, at what cost and in how long."""
    figures = obj({"sms": _NUMBER, "email": _NUMBER, "total": _NUMBER})
    language = obj(
        {
            "language": _enum(Language),
            "people": _COUNT,
            "sms": obj(
                {
                    "text": _STRING,
                    "encoding": {"type": "string", "enum": ["GSM-7", "UCS-2"]},
                    "segments": _COUNT,
                }
            ),
            "email_subject": _STRING,
        }
    )
    return obj(
        {
            "recipients": _COUNT,
            "channels": obj({"sms": _COUNT, "email": _COUNT, "whatsapp": _COUNT, "voice": _COUNT}),
            "unreachable": _COUNT,
            "languages": {"type": "array", "items": language},
            "cost": {"allOf": [figures, obj({"currency": _STRING, "whatsapp": _NUMBER})]},
            "sms_segments": _COUNT,
            "seconds": figures,
        }
    )


def alert_header() -> Schema:
    """What identifies an alert."""
    return obj(
        {
            "id": _INTEGER,
            "code": _STRING,
            "kind": _enum(AlertKind),
            "severity": _enum(Severity),
            "title": _STRING,
            "status": _enum(AlertStatus),
            "created_at": _TIME,
            "created_by": _STRING,
            "stations": {"type": "array", "items": _STRING},
            "audience": obj(
                {
                    "stations": {"type": "array", "items": _STRING},
                    "groups": {"type": "array", "items": _STRING},
                    "people": {"type": "array", "items": _STRING},
                }
            ),
            "channels": {"type": "array", "items": _enum(Channel)},
        }
    )


def cap_imported() -> Schema:
    """The draft a CAP message made (or the alert a rule raised): its header, whether this
    import made it, and the rule of `cap.rules` that sent it, if one did."""
    made = obj({"created": {"type": "boolean"}, "rule": nullable({"type": "integer"})})
    return {"allOf": [ref("AlertHeader"), made]}


def cap_ignored() -> Schema:
    """A CAP message a rule of `cap.rules` ignored: nothing was written."""
    return obj({"ignored": {"const": True}, "rule": {"type": "integer"}, "message": _STRING})


def alert_row() -> Schema:
    """One alert of the list: its header and how many people it was sent to so far."""
    return {"allOf": [ref("AlertHeader"), obj({"recipients": _COUNT})]}


def alert_detail() -> Schema:
    """One alert with its counts; `channels` here counts deliveries per channel and state."""
    header = alert_header()
    properties = header["properties"] | {
        "channels": {"type": "object", "additionalProperties": counts()},
        "recipients": _COUNT,
        "acknowledged": _COUNT,
        "not_answered": _COUNT,
        "responses": counts(),
        "time_to_acknowledge": nullable(obj({"median_seconds": _NUMBER, "p90_seconds": _NUMBER})),
        "skipped": obj({"inactive": _COUNT, "opted_out": _COUNT}),
        "fallback": counts(),
    }
    return obj(properties)


def recipient() -> Schema:
    """One person an alert reached, with their answer and each channel's state."""
    return obj(
        {
            "person_id": _STRING,
            "name": _STRING,
            "station": _STRING,
            "phone": nullable(_STRING),
            "response": nullable(_enum(ResponseKind)),
            "acknowledged_at": nullable(_STRING),
            "channels": {"type": "object", "additionalProperties": _STRING},
            "latest_text": nullable(_STRING),
        }
    )


def drill() -> Schema:
    """A drill schedule with its next run (none while paused)."""
    return obj(
        {
            "name": _STRING,
            "stations": {"type": "array", "items": _STRING},
            "groups": {"type": "array", "items": _STRING},
            "channels": {"type": "array", "items": _enum(Channel)},
            "cron": _STRING,
            "timezone": _STRING,
            "paused": {"type": "boolean"},
            "next_run": nullable(_TIME),
            "next_run_utc": nullable(_TIME),
            "last_alert_id": nullable(_INTEGER),
            "missed": _COUNT,
        }
    )


def report() -> Schema:
    """An alert's report: its figures, who has not answered, the failures, the curve.

    `sms_segments` and `cost` are there when the alert's messages were priced.
    """
    seconds = nullable(_NUMBER)
    reach = obj({"sent": _COUNT, "delivered": _COUNT, "failed": _COUNT})
    person = obj(
        {
            "person_id": _STRING,
            "name": _STRING,
            "station": _STRING,
            "phone": nullable(_STRING),
            "email": nullable(_STRING),
        }
    )
    cost = obj(
        {
            "currency": _STRING,
            "sms": _NUMBER,
            "email": _NUMBER,
            "whatsapp": _NUMBER,
            "voice": _NUMBER,
            "total": _NUMBER,
            "unpriced": _COUNT,
        }
    )
    station = obj(
        {
            "station": _STRING,
            "recipients": _COUNT,
            "acknowledged": _COUNT,
            "p50": seconds,
            "p90": seconds,
        }
    )
    point = {"type": "array", "prefixItems": [seconds, _COUNT], "minItems": 2, "maxItems": 2}
    return obj(
        {
            "alert": ref("AlertHeader"),
            "recipients": _COUNT,
            "reached": {"type": "object", "additionalProperties": {"anyOf": [reach, _COUNT]}},
            "acknowledged": _COUNT,
            "acknowledged_percent": _NUMBER,
            "responses": counts(),
            "time_to_acknowledge": obj({"p50": seconds, "p90": seconds, "p99": seconds}),
            "by_station": {"type": "array", "items": station},
            "not_answered": {"type": "array", "items": person},
            "failures": {"type": "array", "items": obj({"reason": _STRING, "count": _COUNT})},
            "sms_segments": _COUNT,
            "cost": cost,
            "curve": {"type": "array", "items": point},
        },
        optional=("sms_segments", "cost"),
    )


def station() -> Schema:
    """A duty station with how many people it has."""
    return obj(
        {
            "code": _STRING,
            "name": _STRING,
            "country": _STRING,
            "timezone": _STRING,
            "people": _COUNT,
        }
    )


def station_level() -> Schema:
    """A station of the list, with its readiness level."""
    return {"allOf": [ref("Station"), obj({"level": _COUNT})]}


def readiness() -> Schema:
    """A station's readiness: its level, the criteria behind it, its drills, roster and costs."""
    drill_row = obj(
        {
            "alert_id": _INTEGER,
            "created_at": _TIME,
            "recipients": _COUNT,
            "acknowledged": _COUNT,
            "acknowledged_percent": _NUMBER,
            "p90": nullable(_NUMBER),
            "help_answers": _COUNT,
            "help_listed": _COUNT,
        }
    )
    month = obj(
        {
            "month": _STRING,
            "cost": _NUMBER,
            "cost_micros": _INTEGER,
            "messages": _COUNT,
            "unpriced": _COUNT,
        }
    )
    year = obj({"year": _INTEGER, "cost": _NUMBER, "cost_micros": _INTEGER})
    criterion = obj({"level": _COUNT, "key": _STRING, "met": {"type": "boolean"}, "text": _STRING})
    roster = obj(
        {
            name: _NUMBER if name.endswith("percent") else _COUNT
            for name in (
                "people",
                "sms",
                "email",
                "both",
                "sms_percent",
                "email_percent",
                "both_percent",
            )
        }
    )
    return obj(
        {
            "station": ref("Station"),
            "window": obj({"start": _TIME, "end": _TIME}),
            "level": _COUNT,
            "criteria": {"type": "array", "items": criterion},
            "drills": {"type": "array", "items": drill_row},
            "schedules": _COUNT,
            "missed_firings": _COUNT,
            "focal_points": _COUNT,
            "roster": roster,
            "cost": obj(
                {
                    "currency": _STRING,
                    "months": {"type": "array", "items": month},
                    "years": {"type": "array", "items": year},
                    "total": _NUMBER,
                }
            ),
        }
    )


def audit_entry() -> Schema:
    """One entry of the audit log; `id` is the cursor for the next page."""
    return obj(
        {
            "id": _INTEGER,
            "at": _TIME,
            "actor": _STRING,
            "source": _STRING,
            "action": _STRING,
            "target": _STRING,
            "details": {"type": "object"},
        }
    )


SCHEMAS = {
    "Error": error,
    "AlertRequest": alert_request,
    "Accepted": accepted,
    "Preview": preview,
    "AlertHeader": alert_header,
    "AlertRow": alert_row,
    "CapImported": cap_imported,
    "CapIgnored": cap_ignored,
    "AlertDetail": alert_detail,
    "Recipient": recipient,
    "DrillRequest": drill_request,
    "Drill": drill,
    "Report": report,
    "Station": station,
    "StationLevel": station_level,
    "Readiness": readiness,
    "AuditEntry": audit_entry,
}
"""Each component schema by name, with the function that builds it."""
