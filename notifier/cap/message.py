"""A CAP 1.2 alert message as plain frozen values: the words of the standard and its parts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
"""The XML namespace of every CAP 1.2 element."""
CAP_MEDIA_TYPE = "application/cap+xml"
"""The media type of a CAP document (its `+xml` suffix tells any XML client how to read it)."""


class CapStatus(StrEnum):
    """`status`: who a message is for; only Actual is a real warning."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class CapMsgType(StrEnum):
    """`msgType`: what a message does to earlier ones."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class CapScope(StrEnum):
    """`scope`: who may see a message."""

    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class CapUrgency(StrEnum):
    """`urgency`: how soon to act."""

    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class CapSeverity(StrEnum):
    """`severity`: how bad the threat is."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class CapCertainty(StrEnum):
    """`certainty`: how sure the sender is that the event happens."""

    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class CapCircle:
    """A `circle`: centre in WGS 84 degrees and a radius in kilometres."""

    latitude: float
    longitude: float
    radius_km: float


Polygon = tuple[tuple[float, float], ...]
"""A `polygon` as its (latitude, longitude) points, in the document's order."""

Geocode = tuple[str, str]
"""A `geocode` as (valueName, value), e.g. ("SAME", "006109")."""


@dataclass(frozen=True, slots=True)
class CapArea:
    """An `area`: its description and any of polygons, circles and geocodes."""

    area_desc: str
    polygons: tuple[Polygon, ...] = ()
    circles: tuple[CapCircle, ...] = ()
    geocodes: tuple[Geocode, ...] = ()


@dataclass(frozen=True, slots=True)
class CapInfo:
    """An `info` block: the event in one language, with the areas it concerns."""

    language: str
    categories: tuple[str, ...]
    event: str
    urgency: CapUrgency
    severity: CapSeverity
    certainty: CapCertainty
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    expires: datetime | None = None
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True, slots=True)
class CapMessage:
    """An `alert`: who sent it, when, for whom, and its info blocks."""

    identifier: str
    sender: str
    sent: datetime
    status: CapStatus
    msg_type: CapMsgType
    scope: CapScope
    references: str | None = None
    infos: tuple[CapInfo, ...] = ()

    @property
    def areas(self) -> tuple[CapArea, ...]:
        """The areas of every info block, in document order."""
        return tuple(area for info in self.infos for area in info.areas)


def cap_datetime(moment: datetime) -> str:
    """`2026-12-03T13:22:50+00:00`: whole seconds and an offset with a colon, as CAP wants.

    CAP reserves "-00:00" for a time whose zone is unknown, so UTC is written "+00:00",
    which is what `isoformat` gives. An offset with seconds (old local mean times) cannot be
    written in CAP's pattern, so such a moment is given in UTC.
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"a CAP time needs a time zone: {moment!r}")
    if offset % timedelta(minutes=1):
        moment = moment.astimezone(UTC)
    return moment.replace(microsecond=0).isoformat(timespec="seconds")
