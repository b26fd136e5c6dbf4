"""The vocabulary of the notifier: enums for kinds and states, ids, and plain values."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Language(StrEnum):
    """The six languages a person can receive messages in."""

    AR = "ar"
    ZH = "zh"
    EN = "en"
    FR = "fr"
    RU = "ru"
    ES = "es"


class Role(StrEnum):
    """What an API token may do: admin everything, officer its stations, viewer read."""

    ADMIN = "admin"
    OFFICER = "officer"
    VIEWER = "viewer"


class Channel(StrEnum):
    """A way of reaching a person."""

    SMS = "sms"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    VOICE = "voice"


TEXTED: Final = frozenset({Channel.SMS, Channel.WHATSAPP})
"""The channels that text a phone through Twilio's Messages API, answered by a reply."""


class AlertKind(StrEnum):
    """Why an alert was raised; emergencies are sent before drills and tests."""

    EMERGENCY = "emergency"
    DRILL = "drill"
    TEST = "test"


class Severity(StrEnum):
    """The severity of an alert, in the words of the Common Alerting Protocol."""

    EXTREME = "extreme"
    SEVERE = "severe"
    MODERATE = "moderate"
    MINOR = "minor"


class AlertStatus(StrEnum):
    """Where an alert is in its life.

    A draft (from a CAP message of outside) waits for an officer: it is never dispatched,
    takes no answers, is neither escalated nor closed by itself, until it is sent, when it
    becomes `dispatching` like any alert raised then.
    """

    DRAFT = "draft"
    DISPATCHING = "dispatching"
    DISPATCHED = "dispatched"
    CANCELLED = "cancelled"
    CLOSED = "closed"


OPEN_ALERT_STATUSES = (AlertStatus.DISPATCHING.value, AlertStatus.DISPATCHED.value)
"""The statuses of an alert still open: still being sent, or sent and awaiting answers."""


class DeliveryStatus(StrEnum):
    """Where one message to one person on one channel is."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # still queued when its alert was cancelled; never sent


class Purpose(StrEnum):
    """What a delivery carries."""

    ALERT = "alert"  # the alert itself, rendered in the person's language when sent
    ANSWER = "answer"  # the confirmation of a person's answer
    ESCALATION = "escalation"  # a focal point's list of people not answered or needing help


class ResponseKind(StrEnum):
    """What a person answered."""

    SAFE = "safe"
    HELP = "help"
    OTHER = "other"


PRIORITY_OF_KIND: dict[AlertKind, int] = {
    AlertKind.EMERGENCY: 0,
    AlertKind.TEST: 1,
    AlertKind.DRILL: 2,
}
"""Claim order of deliveries: lower first, so emergencies overtake drills."""


ALERT_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""The characters of an alert's short code: none that a small screen confuses (I L O 0 1)."""
ALERT_CODE_LENGTH = 4
