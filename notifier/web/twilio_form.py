"""The fields of Twilio's webhooks that the handlers act on, each checked for its shape.

Twilio's signature joins each name and value with no separator, so a signed form can be
re-cut: `MessageSid=SM…&NumMedia=0` and `MessageSid=SM…NumMedia0` sign alike. A field whose
value is not of its exact shape is refused, so no re-cut form passes for a new message: a
`MessageSid` is `SM` or `MM` and 32 hex digits, numbers are E.164, `NumMedia` and
`ErrorCode` are digits, `MessageStatus` is one of Twilio's states. A field the handlers use
is posted once or refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from notifier.web.forms import Form

MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
SENDER = re.compile(r"(whatsapp:)?\+[1-9][0-9]{1,14}")
"""A message's sender: a number in E.164, prefixed `whatsapp:` for a WhatsApp message."""
NUM_MEDIA = re.compile(r"[0-9]{1,2}")
ERROR_CODE = re.compile(r"[0-9]{1,6}")
MESSAGE_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "canceled",
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "read",
        "partially_delivered",
    }
)
"""Twilio's message states, as its status callbacks spell them."""


class TwilioFormError(Exception):
    """A signed Twilio form lacks a field the handler needs, or has one of the wrong shape."""


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What a delivery status callback says: which message, its state, Twilio's error code."""

    sid: str
    status: str
    error_code: str


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """What an inbound message webhook says: which message, from whom (a number in E.164),
    its text, and whether it came by WhatsApp rather than SMS."""

    sid: str
    sender: str
    body: str
    whatsapp: bool = False


def status_report(form: Form) -> StatusReport:
    """The status callback's fields; TwilioFormError naming the first one missing or malformed."""
    sid = _required(form, "MessageSid", MESSAGE_SID, "SM or MM and 32 hex digits")
    status = _single(form, "MessageStatus").lower()
    if not status:
        raise TwilioFormError("MessageStatus is required")
    if status not in MESSAGE_STATUSES:
        raise TwilioFormError("MessageStatus must be one of Twilio's message states")
    error_code = _optional(form, "ErrorCode", ERROR_CODE, "digits")
    return StatusReport(sid, status, error_code)


def incoming_message(form: Form) -> IncomingMessage:
    """The inbound SMS's (or WhatsApp message's) fields; TwilioFormError naming the first one
    missing or malformed."""
    sid = _required(form, "MessageSid", MESSAGE_SID, "SM or MM and 32 hex digits")
    sender = _required(form, "From", SENDER, "a phone number in E.164 (whatsapp:+… for WhatsApp)")
    _optional(form, "To", SENDER, "a phone number in E.164 (whatsapp:+… for WhatsApp)")
    _optional(form, "NumMedia", NUM_MEDIA, "a number of attachments")
    # A NUL cannot be stored (PostgreSQL text refuses it); it stands for nothing a person typed.
    body = _single(form, "Body").replace("\x00", "\ufffd")
    number = sender.removeprefix("whatsapp:")
    return IncomingMessage(sid, number, body, whatsapp=number != sender)


def _required(form: Form, name: str, shape: re.Pattern[str], expected: str) -> str:
    value = _optional(form, name, shape, expected)
    if not value:
        raise TwilioFormError(f"{name} is required")
    return value


def _optional(form: Form, name: str, shape: re.Pattern[str], expected: str) -> str:
    value = _single(form, name)
    if value and not shape.fullmatch(value):
        raise TwilioFormError(f"{name} must be {expected}")
    return value


def _single(form: Form, name: str) -> str:
    values = form.values(name)
    if len(values) > 1:
        raise TwilioFormError(f"{name} must be given once")
    return values[0] if values else ""


CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
DIGITS = re.compile(r"[0-9*#]{1,20}")
DURATION = re.compile(r"[0-9]{1,6}")
CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer"}
    | {"failed", "canceled"}
)
"""Twilio's call states, as its callbacks spell them."""
ANSWERED_BY = re.compile(r"[a-z_]{1,32}")


@dataclass(frozen=True, slots=True)
class CallReport:
    """What a call webhook says: which call, who answered (`human`, `machine_…`, `fax`,
    `unknown`; empty without machine detection), the key pressed, and how the call ended."""

    sid: str
    answered_by: str = ""
    digits: str = ""
    status: str = ""
    duration: int = 0

    @property
    def machine(self) -> bool:
        """Whether a machine answered: it gets the alert, and no question."""
        return self.answered_by.startswith("machine") or self.answered_by == "fax"


def call_report(form: Form) -> CallReport:
    """A call webhook's fields; TwilioFormError naming the first one missing or malformed."""
    sid = _required(form, "CallSid", CALL_SID, "CA and 32 hex digits")
    status = _single(form, "CallStatus").lower()
    if status and status not in CALL_STATUSES:
        raise TwilioFormError("CallStatus must be one of Twilio's call states")
    return CallReport(
        sid,
        answered_by=_optional(form, "AnsweredBy", ANSWERED_BY, "who answered"),
        digits=_optional(form, "Digits", DIGITS, "the keys pressed"),
        status=status,
        duration=int(_optional(form, "CallDuration", DURATION, "seconds") or 0),
    )
