"""CAP 1.2 documents read into `CapMessage` values, after the safety and schema checks."""

from __future__ import annotations

import math
from datetime import datetime

from lxml import etree

from notifier.cap.message import (
    CAP_NAMESPACE,
    CapArea,
    CapCertainty,
    CapCircle,
    CapInfo,
    CapMessage,
    CapMsgType,
    CapScope,
    CapSeverity,
    CapStatus,
    CapUrgency,
    Polygon,
)
from notifier.cap.xml_safety import CapError, parse_cap_xml

DEFAULT_LANGUAGE = "en-US"
"""The `language` of an info block that names none, as the schema says."""

_MIN_POLYGON_CORNERS = 3


def read_cap(data: bytes) -> CapMessage:
    """The message of a CAP 1.2 document; CapError says what is wrong with a bad one."""
    alert = parse_cap_xml(data)
    return CapMessage(
        identifier=_required(alert, "identifier"),
        sender=_required(alert, "sender"),
        sent=_moment(_child(alert, "sent")),
        status=CapStatus(_required(alert, "status")),
        msg_type=CapMsgType(_required(alert, "msgType")),
        scope=CapScope(_required(alert, "scope")),
        references=_optional(alert, "references"),
        infos=tuple(_info(info) for info in _children(alert, "info")),
    )


def _info(info: etree._Element) -> CapInfo:
    expires = _first(info, "expires")
    return CapInfo(
        language=_optional(info, "language") or DEFAULT_LANGUAGE,
        categories=tuple(_text(category) for category in _children(info, "category")),
        event=_required(info, "event"),
        urgency=CapUrgency(_required(info, "urgency")),
        severity=CapSeverity(_required(info, "severity")),
        certainty=CapCertainty(_required(info, "certainty")),
        headline=_optional(info, "headline"),
        description=_optional(info, "description"),
        instruction=_optional(info, "instruction"),
        expires=None if expires is None else _moment(expires),
        areas=tuple(_area(area) for area in _children(info, "area")),
    )


def _area(area: etree._Element) -> CapArea:
    return CapArea(
        area_desc=_required(area, "areaDesc"),
        polygons=tuple(_polygon(polygon) for polygon in _children(area, "polygon")),
        circles=tuple(_circle(circle) for circle in _children(area, "circle")),
        geocodes=tuple(
            (_required(geocode, "valueName"), _required(geocode, "value"))
            for geocode in _children(area, "geocode")
        ),
    )


def _polygon(element: etree._Element) -> Polygon:
    """`lat,lon lat,lon ...`; CAP asks for a closed ring, an open one is closed here."""
    points = tuple(_point(element, pair) for pair in _text(element).split())
    if len(set(points)) < _MIN_POLYGON_CORNERS:
        raise _bad(element, "a polygon needs at least three distinct points")
    return points


def _circle(element: etree._Element) -> CapCircle:
    """`lat,lon radius`, the radius in kilometres."""
    parts = _text(element).split()
    if len(parts) != 2:
        raise _bad(element, "a circle is written 'latitude,longitude radius'")
    latitude, longitude = _point(element, parts[0])
    radius = _number(element, parts[1])
    if radius < 0:
        raise _bad(element, f"a circle's radius cannot be negative: {parts[1]}")
    return CapCircle(latitude=latitude, longitude=longitude, radius_km=radius)


def _point(element: etree._Element, pair: str) -> tuple[float, float]:
    numbers = pair.split(",")
    if len(numbers) != 2:
        raise _bad(element, f"a point is written 'latitude,longitude', not {pair!r}")
    latitude, longitude = (_number(element, number) for number in numbers)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise _bad(element, f"the point {pair} is outside -90..90, -180..180")
    return latitude, longitude


def _number(element: etree._Element, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise _bad(element, f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise _bad(element, f"{text!r} is not a finite number")
    return number


def _moment(element: etree._Element) -> datetime:
    """A CAP time: the schema checked its shape, not that it is a real moment."""
    try:
        return datetime.fromisoformat(_text(element))
    except ValueError:
        raise _bad(element, f"{_text(element)!r} is not a date and time") from None


def _bad(element: etree._Element, reason: str) -> CapError:
    name = etree.QName(element).localname
    return CapError(f"line {element.sourceline}: element {name!r}: {reason}")


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    return parent.findall(f"{{{CAP_NAMESPACE}}}{name}")


def _first(parent: etree._Element, name: str) -> etree._Element | None:
    return parent.find(f"{{{CAP_NAMESPACE}}}{name}")


def _child(parent: etree._Element, name: str) -> etree._Element:
    child = _first(parent, name)
    if child is None:  # the schema requires it; this keeps the types honest
        raise CapError(f"line {parent.sourceline}: element {name!r} is missing")
    return child


def _required(parent: etree._Element, name: str) -> str:
    return _text(_child(parent, name))


def _optional(parent: etree._Element, name: str) -> str | None:
    child = _first(parent, name)
    return None if child is None else _text(child)


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()
