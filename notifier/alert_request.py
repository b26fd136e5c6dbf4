"""An officer's request to raise an alert, validated field by field (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from notifier.domain import AlertKind, Channel, Language, Severity
from notifier.errors import FieldError
from notifier.translatable import N_

_E = TypeVar("_E", Severity, AlertKind)
MAX_TITLE = 200
MAX_MESSAGE = 2000
MAX_NAMES = 5000
"""Stations, groups or people one request may name: each list is bound into one query."""
STATION_CODE = re.compile(r"[A-Z0-9]{2,8}")
"""What a station code looks like: 2 to 8 upper-case letters or digits."""
_FIELDS = frozenset(
    {"title", "message", "messages", "severity", "kind", "stations", "groups", "people", "channels"}
)


@dataclass(frozen=True, slots=True)
class AlertRequest:
    """What to send, how urgently, to whom, on which channels."""

    title: str
    message: str
    severity: Severity = Severity.SEVERE
    kind: AlertKind = AlertKind.EMERGENCY
    stations: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    channels: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL)
    messages: Mapping[str, str] | None = None

    @property
    def texts(self) -> dict[str, str]:
        """The officer's text per language code (may be empty)."""
        return dict(self.messages or {})


def parse_alert_request(payload: object) -> AlertRequest:
    """Validate a JSON object into a request; raise FieldError naming the first bad field."""
    if not isinstance(payload, Mapping):
        raise FieldError("body", "expected a JSON object")
    unknown = sorted(set(payload) - _FIELDS)
    if unknown:
        raise FieldError(unknown[0], f"unknown field; expected {', '.join(sorted(_FIELDS))}")
    title = _text(payload, "title", MAX_TITLE, single_line=True)
    message = _text(payload, "message", MAX_MESSAGE, single_line=False)
    request = AlertRequest(
        title=title,
        message=message,
        severity=_choice(payload, "severity", Severity, Severity.SEVERE),
        kind=_choice(payload, "kind", AlertKind, AlertKind.EMERGENCY),
        stations=tuple(code.upper() for code in _names(payload, "stations")),
        groups=tuple(group.lower() for group in _names(payload, "groups")),
        people=tuple(_names(payload, "people")),
        channels=_channels(payload),
        messages=_messages(payload),
    )
    for code in request.stations:
        if not STATION_CODE.fullmatch(code):
            raise FieldError("stations", N_("%(code)s is not a station code", code=repr(code)))
    if not request.stations and not request.people:
        raise FieldError("stations", N_("name at least one station (or person)"))
    if request.groups and not request.stations:
        raise FieldError("groups", N_("groups select people within the stations named"))
    return request


def _text(payload: Mapping[str, object], field: str, limit: int, *, single_line: bool) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, N_("required text"))
    value = _storable(field, value.strip())
    if single_line:
        value = " ".join(value.split())
    if len(value) > limit:
        raise FieldError(field, N_("longer than %(limit)s characters", limit=limit))
    return value


def _choice(payload: Mapping[str, object], field: str, enum: type[_E], default: _E) -> _E:
    value = payload.get(field)
    if value is None:
        return default
    allowed = ", ".join(member.value for member in enum)
    if not isinstance(value, str):
        raise FieldError(field, N_("expected one of %(allowed)s", allowed=allowed))
    try:
        return enum(value.lower())
    except ValueError:
        raise FieldError(
            field, N_("%(value)s is not one of %(allowed)s", value=repr(value), allowed=allowed)
        ) from None


def _names(payload: Mapping[str, object], field: str) -> list[str]:
    value = payload.get(field, [])
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, Sequence) or not all(isinstance(item, str) for item in value):
        raise FieldError(field, N_("expected a list of names"))
    names = dict.fromkeys(_storable(field, item.strip()) for item in value)  # once each, in order
    names.pop("", None)
    if len(names) > MAX_NAMES:
        raise FieldError(field, N_("more than %(limit)s names", limit=MAX_NAMES))
    return list(names)


OFFICER_CHANNELS: Final = {
    channel.value: channel for channel in (Channel.SMS, Channel.EMAIL, Channel.VOICE)
}
"""The channels an officer chooses; WhatsApp is a person's, in the roster: it carries their SMS."""


def _channels(payload: Mapping[str, object]) -> tuple[Channel, ...]:
    if "channels" not in payload:
        return (Channel.SMS, Channel.EMAIL)
    names = _names(payload, "channels")
    if not names:
        raise FieldError("channels", N_("name at least one of sms, email, voice"))
    chosen = tuple(OFFICER_CHANNELS.get(name.lower()) for name in names)
    if None in chosen:
        raise FieldError(
            "channels", N_("expected sms, email and/or voice, got %(names)s", names=str(names))
        )
    return tuple(channel for channel in chosen if channel is not None)


def _messages(payload: Mapping[str, object]) -> dict[str, str] | None:
    value = payload.get("messages")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError("messages", N_("expected an object of language code to text"))
    texts: dict[str, str] = {}
    for language, text in value.items():
        if language not in {member.value for member in Language}:
            raise FieldError(
                "messages", N_("unknown language %(language)s", language=repr(language))
            )
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE:
            raise FieldError(
                "messages",
                N_(
                    "%(language)s: expected text of 1 to %(limit)s characters",
                    language=language,
                    limit=MAX_MESSAGE,
                ),
            )
        texts[language] = _storable("messages", text.strip())
    return texts


def _storable(field: str, text: str) -> str:
    """`text`, unless it holds a NUL character, which no database column takes (PostgreSQL)."""
    if "\x00" in text:
        raise FieldError(field, N_("text must not contain the NUL character (\\u0000)"))
    return text
