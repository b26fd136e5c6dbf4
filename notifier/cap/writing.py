"""An alert of the notifier written as a CAP 1.2 document.

The choices CAP leaves to its sender, made here:

- `status` says what the alert is: Actual for an emergency, Exercise for a drill, Test for a
  test. It is the marker CAP consumers filter on, so the rest of a drill's message is
  written as the emergency's would be.
- `certainty` is Observed for an emergency and a drill: an exercise rehearses the real
  message from end to end, and a consumer's exercise pipeline should see what it would see
  in the emergency. A test concerns the channel, not an event: its certainty is Unknown.
- `urgency` is Immediate and `category` Safety: an alert asks every person to act now.
- `event` and `headline` are the alert's title; `description` and `instruction` are both
  the officer's text in the block's language. That text is what people must do, so it is
  the instruction, and it is the only description there is; consumers differ in which of
  the two they show, and one that shows either must not lose it.
- `scope` is Restricted: an alert is for the organisation's people, not the public.
- A cancelled alert is written as a Cancel referencing the original alert.
- A draft, not yet sent by an officer, is written with `status` Draft: not actionable.
- Each station is an `area` named after it, with a circle of `STATION_RADIUS_KM` around its
  coordinates when it has them, and no geometry when it has none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from lxml import etree

from notifier.cap.message import (
    CAP_NAMESPACE,
    CapCertainty,
    CapMsgType,
    CapScope,
    CapSeverity,
    CapStatus,
    CapUrgency,
    cap_datetime,
)
from notifier.domain import AlertKind, Language, Severity

STATION_RADIUS_KM = 5.0
"""The circle drawn around a station: its compound and the streets around it, not the town."""

CATEGORY = "Safety"
"""The CAP category of every alert: the safety of the organisation's people."""

STATUS_OF_KIND: Mapping[AlertKind, CapStatus] = MappingProxyType(
    {
        AlertKind.EMERGENCY: CapStatus.ACTUAL,
        AlertKind.DRILL: CapStatus.EXERCISE,
        AlertKind.TEST: CapStatus.TEST,
    }
)
_CERTAINTY: Mapping[AlertKind, CapCertainty] = MappingProxyType(
    {
        AlertKind.EMERGENCY: CapCertainty.OBSERVED,
        AlertKind.DRILL: CapCertainty.OBSERVED,
        AlertKind.TEST: CapCertainty.UNKNOWN,
    }
)
CAP_SEVERITY: Mapping[Severity, CapSeverity] = MappingProxyType(
    {
        Severity.EXTREME: CapSeverity.EXTREME,
        Severity.SEVERE: CapSeverity.SEVERE,
        Severity.MODERATE: CapSeverity.MODERATE,
        Severity.MINOR: CapSeverity.MINOR,
    }
)
# CAP: identifier and sender "MUST NOT include spaces, commas or restricted characters".
_NOT_IN_NAMES = re.compile(r"[\s,<&]")
# Characters XML 1.0 cannot carry at all; an officer's text may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ExportStation = tuple[str, str, float | None, float | None]
"""A station as (code, name, latitude, longitude); either coordinate may be unknown."""


@dataclass(frozen=True, slots=True)
class CapOriginal:
    """The alert a Cancel refers to: its identifier and when it was sent."""

    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class CapExport:
    """What a CAP document of one alert is written from.

    `message` is the officer's text in the alert's `language`; `messages` the texts written
    in other languages (a blank one is left out). `cancels`, when given, makes the document
    a Cancel of that original alert, under this document's own identifier and time. A
    `draft` is written with status Draft, whatever its kind.
    """

    identifier: str
    sender: str
    sent: datetime
    kind: AlertKind
    severity: Severity
    title: str
    message: str
    language: Language
    restriction: str
    stations: Sequence[ExportStation] = ()
    messages: Mapping[Language, str] = field(default_factory=dict)
    cancels: CapOriginal | None = None
    draft: bool = False


def write_cap(export: CapExport) -> bytes:
    """The CAP 1.2 document of an alert, UTF-8 with an XML declaration."""
    for name, value in (("identifier", export.identifier), ("sender", export.sender)):
        if not value or _NOT_IN_NAMES.search(value):
            raise ValueError(f"a CAP {name} must be non-empty, without spaces, ',', '<', '&'")
    if not export.restriction.strip():
        raise ValueError("a Restricted CAP message needs a restriction")
    alert = etree.Element(_tag("alert"), nsmap={None: CAP_NAMESPACE})
    _add(alert, "identifier", export.identifier)
    _add(alert, "sender", export.sender)
    _add(alert, "sent", cap_datetime(export.sent))
    _add(alert, "status", CapStatus.DRAFT if export.draft else STATUS_OF_KIND[export.kind])
    _add(alert, "msgType", CapMsgType.ALERT if export.cancels is None else CapMsgType.CANCEL)
    _add(alert, "scope", CapScope.RESTRICTED)
    _add(alert, "restriction", export.restriction)
    if export.cancels is not None:
        original = export.cancels
        _add(alert, "references", f"{export.sender},{original.identifier},{_sent(original)}")
    for language, text in texts_by_language(export):
        _add_info(alert, export, language, text)
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def texts_by_language(export: CapExport) -> list[tuple[Language, str]]:
    """The alert's own language and text first, then each other language that has text."""
    others = [
        (language, export.messages[language])
        for language in Language
        if language != export.language and export.messages.get(language, "").strip()
    ]
    return [(export.language, export.message), *others]


def _add_info(alert: etree._Element, export: CapExport, language: Language, text: str) -> None:
    info = _add(alert, "info")
    _add(info, "language", language)
    _add(info, "category", CATEGORY)
    _add(info, "event", export.title)
    _add(info, "urgency", CapUrgency.IMMEDIATE)
    _add(info, "severity", CAP_SEVERITY[export.severity])
    _add(info, "certainty", _CERTAINTY[export.kind])
    _add(info, "headline", export.title)
    _add(info, "description", text)
    _add(info, "instruction", text)
    for code, name, latitude, longitude in export.stations:
        area = _add(info, "area")
        _add(area, "areaDesc", f"{name} ({code})" if name and name != code else code)
        if latitude is not None and longitude is not None:
            _add(area, "circle", _circle(latitude, longitude))


def _circle(latitude: float, longitude: float) -> str:
    if not (math.isfinite(latitude) and math.isfinite(longitude)) or not (
        -90 <= latitude <= 90 and -180 <= longitude <= 180
    ):
        raise ValueError(f"no such place: latitude {latitude}, longitude {longitude}")
    return f"{latitude:.6f},{longitude:.6f} {STATION_RADIUS_KM:g}"


def _sent(original: CapOriginal) -> str:
    if _NOT_IN_NAMES.search(original.identifier) or not original.identifier:
        raise ValueError("a CAP identifier must be non-empty, without spaces, ',', '<', '&'")
    return cap_datetime(original.sent)


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _tag(name))
    if text is not None:
        child.text = _NOT_XML.sub("", text)
    return child


def _tag(name: str) -> str:
    return f"{{{CAP_NAMESPACE}}}{name}"
