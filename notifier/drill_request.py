"""A request to add a drill schedule, validated field by field (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from notifier.alert_request import MAX_MESSAGE, MAX_TITLE, STATION_CODE, parse_alert_request
from notifier.cron import MAX_EXPRESSION
from notifier.domain import Channel
from notifier.errors import FieldError

MAX_NAME = 100
DRILL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""What a drill's name looks like: it is typed on command lines and in URLs."""
_FIELDS = frozenset(
    {"name", "stations", "groups", "channels", "cron", "timezone", "title", "message"}
)


@dataclass(frozen=True, slots=True)
class DrillRequest:
    """A drill schedule to add: who, on which channels, when, and optionally its words."""

    name: str
    stations: tuple[str, ...]
    cron: str
    timezone: str | None = None
    groups: tuple[str, ...] = ()
    channels: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL)
    title: str | None = None
    message: str | None = None


def parse_drill_request(payload: object) -> DrillRequest:
    """Validate a JSON object into a request; raise FieldError naming the first bad field."""
    if not isinstance(payload, Mapping):
        raise FieldError("body", "expected a JSON object")
    unknown = sorted(set(payload) - _FIELDS)
    if unknown:
        raise FieldError(unknown[0], f"unknown field; expected {', '.join(sorted(_FIELDS))}")
    name = payload.get("name")
    if not isinstance(name, str) or not DRILL_NAME.fullmatch(name):
        raise FieldError(
            "name", f"expected 1 to {MAX_NAME} letters, digits, '.', '_' or '-', got {name!r}"
        )
    cron = payload.get("cron")
    if not isinstance(cron, str) or not cron.strip() or len(cron) > MAX_EXPRESSION:
        raise FieldError("cron", f"required: five crontab fields, at most {MAX_EXPRESSION} long")
    zone = payload.get("timezone")
    if zone is not None and not isinstance(zone, str):
        raise FieldError("timezone", "expected an IANA time zone name")
    if not payload.get("stations"):
        raise FieldError("stations", "name at least one station")
    audience = parse_alert_request(
        {
            "title": _optional_text(payload, "title", MAX_TITLE) or "-",
            "message": _optional_text(payload, "message", MAX_MESSAGE) or "-",
            **{key: payload[key] for key in ("stations", "groups", "channels") if key in payload},
        }
    )
    for code in audience.stations:
        if not STATION_CODE.fullmatch(code):
            raise FieldError("stations", f"{code!r} is not a station code")
    return DrillRequest(
        name=name,
        stations=audience.stations,
        cron=" ".join(cron.split()),
        timezone=zone or None,
        groups=audience.groups,
        channels=audience.channels,
        title=_optional_text(payload, "title", MAX_TITLE),
        message=_optional_text(payload, "message", MAX_MESSAGE),
    )


def _optional_text(payload: Mapping[str, object], field: str, limit: int) -> str | None:
    value = payload.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise FieldError(field, "expected text")
    if "\x00" in value:
        raise FieldError(field, "text must not contain the NUL character (\\u0000)")
    if len(value.strip()) > limit:
        raise FieldError(field, f"longer than {limit} characters")
    return value.strip() if field == "message" else " ".join(value.split())
