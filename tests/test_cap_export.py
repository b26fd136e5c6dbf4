"""An alert row as CAP: identifier, sender, Cancel and Draft (pure over rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from notifier.cap.message import CapMsgType, CapStatus
from notifier.cap.reading import read_cap
from notifier.cap.writing import write_cap
from notifier.cap_export import cap_export, cap_identifier, cap_sender
from notifier.settings import Settings
from notifier.store.tables import Alert

RAISED = datetime(2026, 12, 3, 13, 22, 50, 123456, tzinfo=UTC)


def _alert(**changes: object) -> Alert:
    values: dict[str, Any] = {
        "id": 42,
        "code": "K7Q2",
        "kind": "emergency",
        "severity": "extreme",
        "title": "Earthquake",
        "message": "Leave the building.",
        "messages": {"fr": "Quittez le bâtiment.", "xx": "ignored"},
        "audience": {"stations": ["NBO"], "scope": ["NBO"]},
        "channels": ["sms", "email"],
        "status": "dispatched",
        "created_by": "officer",
        "created_at": RAISED,
    }
    return Alert(**(values | changes))


def test_sender_defaults_to_notifier_at_the_reply_domain() -> None:
    """Empty `cap.sender` is notifier@ + email.reply_domain; a set one is used as it is."""
    assert cap_sender(Settings()) == "notifier@reply.example.org"
    assert cap_sender(Settings.model_validate({"cap": {"sender": "ens@un.org"}})) == "ens@un.org"


def test_identifier_names_sender_id_and_the_moment_raised() -> None:
    """SENDER:alert:ID:RAISED, to the microsecond in UTC."""
    assert cap_identifier("ens@un.org", _alert()) == "ens@un.org:alert:42:20261203T132250.123456Z"


def test_the_officers_text_is_english_and_other_languages_follow() -> None:
    """The main message is the English block; French follows; unknown codes are left out."""
    message = read_cap(write_cap(cap_export(_alert(), [("NBO", "Nairobi", None, None)], "s@x")))
    assert [(info.language, info.instruction) for info in message.infos] == [
        ("en", "Leave the building."),
        ("fr", "Quittez le bâtiment."),
    ]


def test_cancelled_and_draft_alerts() -> None:
    """A cancelled alert is a Cancel of its own identifier; a draft has status Draft."""
    cancelled_at = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    cancel = cap_export(_alert(status="cancelled", cancelled_at=cancelled_at), [], "s@x")
    assert cancel.identifier == cap_identifier("s@x", _alert()) + ":cancel"
    assert cancel.sent == cancelled_at
    assert cancel.cancels is not None and cancel.cancels.sent == RAISED
    assert read_cap(write_cap(cancel)).msg_type is CapMsgType.CANCEL
    draft = cap_export(_alert(status="draft"), [], "s@x")
    assert read_cap(write_cap(draft)).status is CapStatus.DRAFT
