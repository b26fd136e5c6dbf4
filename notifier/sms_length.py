"""Count what an SMS costs: its encoding (GSM-7 or UCS-2), its units and its segments.

A text made only of characters of the GSM 03.38 default alphabet and its extension table
is sent in GSM-7: one unit a character, two for an extension character (an escape and the
character). Any other character makes the whole text UCS-2, counted in UTF-16 code units,
so a character outside the Basic Multilingual Plane (an emoji) counts two.

One segment holds 160 GSM-7 or 70 UCS-2 units; a longer text is split into segments of 153
or 67 units (the rest is the concatenation header). Carriers never split an escape pair or
a surrogate pair across two segments, so segments are counted by walking the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True, slots=True)
class SmsLength:
    """How a text is sent: its encoding, its length in that encoding's units, its segments."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character of the text is in the GSM-7 alphabet or its extension."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def sms_length(text: str) -> SmsLength:
    """The encoding, units and segments of a text; the empty text is one segment of 0 units."""
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    costs = [_unit_cost(char, encoding) for char in text]
    units = sum(costs)
    if units <= SINGLE_SEGMENT_UNITS[encoding]:
        return SmsLength(encoding=encoding, units=units, segments=1)
    return SmsLength(
        encoding=encoding,
        units=units,
        segments=_walk_segments(costs, CONCATENATED_SEGMENT_UNITS[encoding]),
    )


def _unit_cost(char: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def _walk_segments(costs: list[int], capacity: int) -> int:
    """Fill segments in order; a character whose units do not fit opens the next segment."""
    segments, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            segments += 1
            used = 0
        used += cost
    return segments
