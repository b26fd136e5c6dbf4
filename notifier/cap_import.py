"""A CAP message from outside as the content of a draft alert (pure).

The choices made here:

- `status` gives the kind: Actual an emergency, Exercise a drill, Test a test. System and
  Draft messages are not warnings to pass on, and are refused.
- `msgType` Alert and Update make a draft; Cancel, Ack and Error are refused (a Cancel of a
  message imported before does not cancel its draft: an officer does, after reading it).
- `severity` is CAP's in our words; Unknown becomes severe, the notifier's default.
- The info blocks in the six languages of the notifier (`en-US` is English) give the texts:
  the title is the headline (else the event), the message the description then the
  instruction (else the title). The English block, else the first block, gives the title,
  severity and main message; each language's first block its own message.
- Texts are cut to what an alert holds (`MAX_TITLE`, `MAX_MESSAGE`), the cut marked with "…".
- `cap.rules` are tried in order before all this; the first that matches sends the alert at
  once or ignores the message (so a rule may ignore the System messages otherwise refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from notifier.alert_request import MAX_MESSAGE, MAX_TITLE
from notifier.cap.message import CapInfo, CapMessage, CapMsgType, CapSeverity, CapStatus, Geocode
from notifier.cap.writing import CAP_SEVERITY, STATUS_OF_KIND
from notifier.cap.xml_safety import CapError
from notifier.domain import AlertKind, Language, Severity
from notifier.settings import CapRule

_KIND: Mapping[CapStatus, AlertKind] = MappingProxyType(
    {status: kind for kind, status in STATUS_OF_KIND.items()}
)
"""A CAP status as our kind of alert: the export's table read backwards."""
_SEVERITY: Mapping[CapSeverity, Severity] = MappingProxyType(
    {cap: ours for ours, cap in CAP_SEVERITY.items()} | {CapSeverity.UNKNOWN: Severity.SEVERE}
)
"""A CAP severity as ours, the export's table read backwards; Unknown taken as severe."""
_LANGUAGES = frozenset(language.value for language in Language)
_IMPORTED_TYPES = frozenset({CapMsgType.ALERT, CapMsgType.UPDATE})


@dataclass(frozen=True, slots=True)
class DraftContent:
    """What a draft alert says: its kind, severity, title, main message and texts by language."""

    kind: AlertKind
    severity: Severity
    title: str
    message: str
    messages: Mapping[str, str] = field(default_factory=dict)


def draft_content(message: CapMessage) -> DraftContent:
    """The draft a CAP message makes; CapError when it is not one to import."""
    kind = _KIND.get(message.status)
    if kind is None:
        raise CapError(
            f"element 'status': a {message.status} message is not a warning to pass on; "
            "only Actual, Exercise and Test are imported"
        )
    if message.msg_type not in _IMPORTED_TYPES:
        raise CapError(
            f"element 'msgType': a message of type {message.msg_type} makes no draft; "
            "only Alert and Update are imported"
        )
    if not message.infos:
        raise CapError("element 'info': the message has none, so nothing to tell anyone")
    ours = _by_language(message.infos)
    main = ours.get(Language.EN) or message.infos[0]
    title = _title(main)
    if not title:
        raise CapError("element 'event': empty, and no headline: the alert would have no title")
    return DraftContent(
        kind=kind,
        severity=_SEVERITY[main.severity],
        title=title,
        message=_text(main),
        messages={language.value: _text(info) for language, info in ours.items()},
    )


def matching_rule(message: CapMessage, rules: Sequence[CapRule]) -> tuple[int, CapRule] | None:
    """The first rule `message` matches, numbered from 1 as an officer counts them, if any."""
    for number, rule in enumerate(rules, start=1):
        if rule.status and message.status not in rule.status:
            continue
        if any(_info_matches(info, rule) for info in message.infos) or not (
            rule.urgency or rule.severity or rule.certainty
        ):
            return number, rule
    return None


def _info_matches(info: CapInfo, rule: CapRule) -> bool:
    return (
        (not rule.urgency or info.urgency in rule.urgency)
        and (not rule.severity or info.severity in rule.severity)
        and (not rule.certainty or info.certainty in rule.certainty)
    )


def language_of(info: CapInfo) -> Language | None:
    """The notifier's language of an info block (`en-US` → en), or None for any other."""
    primary = info.language.split("-")[0].strip().lower()
    return Language(primary) if primary in _LANGUAGES else None


def geocode_stations(
    message: CapMessage, table: Mapping[str, Mapping[str, Sequence[str]]]
) -> dict[Geocode, list[str]]:
    """The configured stations of each geocode of `message` (`cap.geocodes`), ignoring case."""
    folded = {
        (name.casefold(), value.casefold()): list(codes)
        for name, values in table.items()
        for value, codes in values.items()
    }
    return {
        geocode: folded[(geocode[0].casefold(), geocode[1].casefold())]
        for area in message.areas
        for geocode in area.geocodes
        if (geocode[0].casefold(), geocode[1].casefold()) in folded
    }


def _by_language(infos: Sequence[CapInfo]) -> dict[Language, CapInfo]:
    found: dict[Language, CapInfo] = {}
    for info in infos:
        language = language_of(info)
        if language is not None:
            found.setdefault(language, info)
    return found


def _title(info: CapInfo) -> str:
    return _cut(" ".join((info.headline or info.event).split()), MAX_TITLE)


def _text(info: CapInfo) -> str:
    parts = [part.strip() for part in (info.description, info.instruction) if part and part.strip()]
    return _cut("\n\n".join(parts) or _title(info), MAX_MESSAGE)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
