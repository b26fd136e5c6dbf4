"""A CAP message as a draft's content: kind from status, severity, texts by language (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.alert_request import MAX_MESSAGE, MAX_TITLE
from notifier.cap.message import (
    CapArea,
    CapCertainty,
    CapInfo,
    CapMessage,
    CapMsgType,
    CapScope,
    CapSeverity,
    CapStatus,
    CapUrgency,
)
from notifier.cap.xml_safety import CapError
from notifier.cap_import import draft_content, geocode_stations, language_of, matching_rule
from notifier.domain import AlertKind, Language, Severity
from notifier.settings import CapRule

INFO = CapInfo(
    language="en-US",
    categories=("Met",),
    event="Flood",
    urgency=CapUrgency.IMMEDIATE,
    severity=CapSeverity.SEVERE,
    certainty=CapCertainty.OBSERVED,
    headline="Flash flood warning",
    description="The river is rising.",
    instruction="Go to higher ground.",
)
MESSAGE = CapMessage(
    identifier="MET-1",
    sender="met@example.org",
    sent=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
    status=CapStatus.ACTUAL,
    msg_type=CapMsgType.ALERT,
    scope=CapScope.PUBLIC,
    infos=(INFO,),
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (CapStatus.ACTUAL, AlertKind.EMERGENCY),
        (CapStatus.EXERCISE, AlertKind.DRILL),
        (CapStatus.TEST, AlertKind.TEST),
    ],
)
def test_status_gives_the_kind(status: CapStatus, kind: AlertKind) -> None:
    """Actual is an emergency, Exercise a drill, Test a test."""
    assert draft_content(replace(MESSAGE, status=status)).kind is kind


@pytest.mark.parametrize("status", [CapStatus.SYSTEM, CapStatus.DRAFT])
def test_system_and_draft_messages_are_refused(status: CapStatus) -> None:
    """System and Draft messages are no warnings: refused, naming `status`."""
    with pytest.raises(CapError, match="element 'status'"):
        draft_content(replace(MESSAGE, status=status))


@pytest.mark.parametrize("msg_type", [CapMsgType.CANCEL, CapMsgType.ACK, CapMsgType.ERROR])
def test_only_alerts_and_updates_make_drafts(msg_type: CapMsgType) -> None:
    """Cancel, Ack and Error make no draft, naming `msgType`."""
    with pytest.raises(CapError, match="element 'msgType'"):
        draft_content(replace(MESSAGE, msg_type=msg_type))


@pytest.mark.parametrize(
    ("cap", "ours"),
    [
        (CapSeverity.EXTREME, Severity.EXTREME),
        (CapSeverity.SEVERE, Severity.SEVERE),
        (CapSeverity.MODERATE, Severity.MODERATE),
        (CapSeverity.MINOR, Severity.MINOR),
        (CapSeverity.UNKNOWN, Severity.SEVERE),
    ],
)
def test_severity_is_mapped_back(cap: CapSeverity, ours: Severity) -> None:
    """CAP's severities are ours; Unknown is the notifier's default, severe."""
    info = replace(INFO, severity=cap)
    assert draft_content(replace(MESSAGE, infos=(info,))).severity is ours


def test_texts_from_our_languages_english_first() -> None:
    """en-US and fr-CA are ours, de is not; the English block gives title and main text."""
    french = replace(
        INFO,
        language="fr-CA",
        headline="Crue subite",
        description="La rivière monte.",
        instruction=None,
    )
    german = replace(INFO, language="de", headline="Sturzflut")
    content = draft_content(replace(MESSAGE, infos=(german, french, INFO)))
    assert content.title == "Flash flood warning"
    assert content.message == "The river is rising.\n\nGo to higher ground."
    assert dict(content.messages) == {"fr": "La rivière monte.", "en": content.message}


def test_without_headline_or_texts_the_event_serves() -> None:
    """No headline: the event is the title; no description or instruction: the title is the text."""
    bare = replace(INFO, headline=None, description=None, instruction=None, language="xx")
    content = draft_content(replace(MESSAGE, infos=(bare,)))
    assert (content.title, content.message, dict(content.messages)) == ("Flood", "Flood", {})


def test_long_texts_are_cut_to_what_an_alert_holds() -> None:
    """A title and a text too long for an alert are cut, the cut marked."""
    long = replace(INFO, headline="H" * 500, description="D" * 5000, instruction=None)
    content = draft_content(replace(MESSAGE, infos=(long,)))
    assert (len(content.title), len(content.message)) == (MAX_TITLE, MAX_MESSAGE)
    assert content.title.endswith("…") and content.message.endswith("…")


def test_a_message_without_info_is_refused() -> None:
    """No info block: nothing to tell anyone."""
    with pytest.raises(CapError, match="element 'info'"):
        draft_content(replace(MESSAGE, infos=()))


@pytest.mark.parametrize(
    ("language", "ours"),
    [
        ("en-US", Language.EN),
        ("es-US", Language.ES),
        ("ZH-cn", Language.ZH),
        ("ar", Language.AR),
        ("de-CH", None),
        ("", None),
    ],
)
def test_language_of_an_info_block(language: str, ours: Language | None) -> None:
    """The primary subtag, in any case, when it is one of ours."""
    assert language_of(replace(INFO, language=language)) is ours


def test_geocodes_are_looked_up_without_regard_to_case() -> None:
    """The table (from TOML or the lower-cased environment) matches a geocode in any case."""
    area = CapArea("LA", geocodes=(("SAME", "006037"), ("FIPS6", "6037"), ("UGC", "CAZ041")))
    message = replace(MESSAGE, infos=(replace(INFO, areas=(area,)),))
    table = {"same": {"006037": ["LAX"]}, "UGC": {"caz041": ["PAS"]}}
    assert geocode_stations(message, table) == {
        ("SAME", "006037"): ["LAX"],
        ("UGC", "CAZ041"): ["PAS"],
    }


SEND_SERIOUS = CapRule.model_validate(
    {
        "status": "Actual",
        "urgency": "Immediate",
        "severity": "Extreme",
        "certainty": "Observed",
        "action": "send",
    }
)
IGNORE_NOT_ACTUAL = CapRule.model_validate(
    {"status": ["Exercise", "System", "Test", "Draft"], "action": "ignore"}
)


@pytest.mark.parametrize(
    ("changes", "info_changes", "expected"),
    [
        ({}, {"severity": CapSeverity.EXTREME}, 1),
        ({}, {}, None),  # severe, not extreme: a draft
        ({"status": CapStatus.SYSTEM}, {"severity": CapSeverity.EXTREME}, 2),
        ({"status": CapStatus.EXERCISE}, {}, 2),
        ({}, {"severity": CapSeverity.EXTREME, "certainty": CapCertainty.LIKELY}, None),
    ],
)
def test_the_first_matching_rule_decides(
    changes: dict[str, Any], info_changes: dict[str, Any], expected: int | None
) -> None:
    """Rules are tried in order; urgency, severity and certainty hold in one info block."""
    message = replace(MESSAGE, infos=(replace(INFO, **info_changes),), **changes)
    found = matching_rule(message, [SEND_SERIOUS, IGNORE_NOT_ACTUAL])
    assert (None if found is None else found[0]) == expected


def test_criteria_must_meet_in_one_info_block() -> None:
    """Extreme in one block and Observed in another is no match for a rule asking both."""
    extreme = replace(INFO, severity=CapSeverity.EXTREME, certainty=CapCertainty.LIKELY)
    observed = replace(INFO, severity=CapSeverity.MINOR, certainty=CapCertainty.OBSERVED)
    assert matching_rule(replace(MESSAGE, infos=(extreme, observed)), [SEND_SERIOUS]) is None
