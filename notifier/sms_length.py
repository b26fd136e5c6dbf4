"""Count what an SMS costs: its encoding (GSM-7 or UCS-2), its units and its segments.

A text made only of characters of the GSM 03.38 default alphabet and its extension table
is sent in GSM-7: one unit a character, two for an extension character (an escape and the
character). Any other character makes the whole text UCS-2, counted in UTF-16 code units,
so a character outside the Basic Multilingual Plane (an emoji) counts two.

One segment holds 160 GSM-7 or 70 UCS-2 units; a longer text is split into segments of 153
or 67 units (the rest is the concatenation header). A character is never split across two
segments: an escape pair, a surrogate pair, nor a character a reader sees as one but that
is made of several code points (an extended grapheme cluster of Unicode's UAX #29: a flag,
a family emoji of people joined by zero-width joiners, a letter with combining accents).
Twilio's segment calculator splits the text into grapheme clusters too, and opens a new
segment for one that does not fit whole. So segments are counted by walking the clusters;
CR LF, one cluster, counts as two characters, as Twilio's calculator counts it; a cluster
longer than a whole segment is the one thing that must be split, between code points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet (127 characters; the 128th position is the escape)."""

GSM7_EXTENSION = frozenset("\f^{}\\[]~|€")
"""Characters of the GSM 03.38 extension table: each is sent as escape + character."""

SINGLE_SEGMENT_UNITS: dict[str, int] = {"GSM-7": 160, "UCS-2": 70}
CONCATENATED_SEGMENT_UNITS: dict[str, int] = {"GSM-7": 153, "UCS-2": 67}

Encoding = Literal["GSM-7", "UCS-2"]

_CLUSTER = regex.compile(r"\r|\X")
"""A character as a reader sees it (an extended grapheme cluster); CR LF as CR then LF."""


@dataclass(frozen=True, slots=True)
class SmsLength:
    """How a text is sent: its encoding, its length in that encoding's units, its segments."""

    encoding: Encoding
    units: int
    segments: int


def whole_characters(text: str, end: int) -> int:
    """The longest prefix of `text`, at most `end` code points, that splits no character."""
    kept = 0
    for cluster in _CLUSTER.finditer(text):
        if cluster.end() > end:
            break
        kept = cluster.end()
    return kept


def is_gsm7(text: str) -> bool:
    """Whether every character of the text is in the GSM-7 alphabet or its extension."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def sms_length(text: str) -> SmsLength:
    """The encoding, units and segments of a text; the empty text is one segment of 0 units."""
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    capacity = CONCATENATED_SEGMENT_UNITS[encoding]
    # Each GSM-7 character is a cluster of its own (CR LF is counted as two anyway).
    costs = [_gsm7_units(char) for char in text] if encoding == "GSM-7" else _ucs2_costs(text)
    units = sum(costs)
    if units <= SINGLE_SEGMENT_UNITS[encoding]:
        return SmsLength(encoding=encoding, units=units, segments=1)
    return SmsLength(encoding=encoding, units=units, segments=_walk_segments(costs, capacity))


def _gsm7_units(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _ucs2_costs(text: str) -> list[int]:
    """The UTF-16 units of each piece a UCS-2 text is sent in: its clusters, kept whole.

    A cluster longer than a concatenated segment is split between its code points.
    """
    clusters = _CLUSTER.findall(text)
    costs = [len(cluster.encode("utf-16-le", "surrogatepass")) // 2 for cluster in clusters]
    if costs and max(costs) > CONCATENATED_SEGMENT_UNITS["UCS-2"]:
        whole = zip(clusters, costs, strict=True)
        return [piece for cluster, cost in whole for piece in _pieces(cluster, cost)]
    return costs


def _pieces(cluster: str, units: int) -> list[int]:
    if units <= CONCATENATED_SEGMENT_UNITS["UCS-2"]:
        return [units]
    return [2 if ord(char) > 0xFFFF else 1 for char in cluster]


def _walk_segments(costs: list[int], capacity: int) -> int:
    """Fill segments in order; a piece whose units do not fit opens the next segment."""
    segments, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            segments += 1
            used = 0
        used += cost
    return segments
