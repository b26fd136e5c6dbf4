"""An alert row as what `notifier.cap.writing` writes: its CAP identifier, sender and areas.

The choices made here:

- `sender` is `cap.sender`, or "notifier@" + `email.reply_domain` when that is empty: a name
  this installation already owns, and nothing secret.
- `identifier` is `SENDER:alert:ID:RAISED`, RAISED the moment the alert was raised in UTC to
  the microsecond (`20261203T132250.123456Z`). The row's id and that time do not change once
  it is raised, so the identifier is the same on every call; the time keeps two
  installations that share a sender (a test and a production database) from naming two
  alerts alike. (A draft is raised when it is sent: its Draft document has another
  identifier than the alert it becomes.)
- `sent` is when the alert was raised. A cancelled alert is a Cancel of its own identifier
  `…:cancel`, sent when it was cancelled, referencing the alert as first written.
- The officer's `message` is taken as English (the alert keeps no language of its own; it is
  what every person without a text in their language receives); `messages` gives the others.
- A draft is written with CAP status Draft (`CapExport.draft`).
"""

from __future__ import annotations

from collections.abc import Sequence

from notifier.cap.writing import CapExport, CapOriginal, ExportStation
from notifier.domain import AlertKind, AlertStatus, Language, Severity
from notifier.settings import Settings
from notifier.store.tables import Alert

RESTRICTION = "For the organisation's staff at the stations named and their security officers"
"""Who a Restricted message is for, as CAP's `restriction` says it."""


def cap_sender(settings: Settings) -> str:
    """The CAP sender of this installation's documents."""
    return settings.cap.sender or f"notifier@{settings.email.reply_domain}"


def cap_identifier(sender: str, alert: Alert) -> str:
    """The alert's CAP identifier: stable for the row, unique across installations."""
    raised = alert.created_at.strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{sender}:alert:{alert.id}:{raised}"


def cap_export(alert: Alert, stations: Sequence[ExportStation], sender: str) -> CapExport:
    """What the CAP document of `alert` is written from; `stations` are its areas."""
    identifier = cap_identifier(sender, alert)
    known = {language.value for language in Language}
    texts = {Language(code): text for code, text in alert.messages.items() if code in known}
    english = texts.pop(Language.EN, "")
    cancelled = alert.status == AlertStatus.CANCELLED.value
    return CapExport(
        identifier=f"{identifier}:cancel" if cancelled else identifier,
        sender=sender,
        sent=(alert.cancelled_at or alert.created_at) if cancelled else alert.created_at,
        kind=AlertKind(alert.kind),
        severity=Severity(alert.severity),
        title=alert.title,
        message=english if english.strip() else alert.message,
        language=Language.EN,
        restriction=RESTRICTION,
        stations=stations,
        messages=texts,
        cancels=CapOriginal(identifier, alert.created_at) if cancelled else None,
        draft=alert.status == AlertStatus.DRAFT.value,
    )
