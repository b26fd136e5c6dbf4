"""The price of each message as it is sent: an SMS's segments at its country's price per segment.

This runs for every message, so the country is found without parsing the number where the
calling code alone decides the price: a code of one country (+254, Kenya), or one shared by
countries priced alike (+1 when neither the United States nor Canada has a price of its own).
Only a code shared by countries priced differently has its numbers parsed, each number once
while it stays in a bounded cache. An SMS's segments are counted once for each text: the
words of an alert are the same for everyone of one language.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from notifier.channels.base import OutgoingCall, OutgoingEmail, OutgoingSms
from notifier.costs import MessageCost, Prices
from notifier.sms_length import sms_length

NUMBERS_KEPT = 65_536
"""Numbers whose country is remembered, for calling codes shared by countries priced apart."""
TEXTS_KEPT = 512
"""Texts whose segments are remembered (a text an alert and language; notices pass through)."""
_UNPRICED_CALL = MessageCost(None, 0)
"""A call is priced by its minutes when it ends (its status callback), not when placed."""
_SHARED = -1
"""In the table of calling codes: the code's countries differ in price, parse the number."""


class Pricer:
    """Prices messages with the configured prices (in micros)."""

    def __init__(self, prices: Prices) -> None:
        self._prices = prices
        self._email = MessageCost(None, prices.email)
        self._whatsapp = MessageCost(None, prices.whatsapp)
        self._by_calling_code = _price_by_calling_code(prices)
        self._region_price = lru_cache(maxsize=NUMBERS_KEPT)(self._parsed_segment_price)
        self._segments: dict[str, int] = {}

    def cost(self, message: OutgoingSms | OutgoingEmail | OutgoingCall) -> MessageCost:
        """What sending `message` costs."""
        if isinstance(message, OutgoingEmail):
            return self._email
        if isinstance(message, OutgoingCall):
            return _UNPRICED_CALL
        if message.whatsapp:
            return self._whatsapp
        segments = self.segments(message.body)
        return MessageCost(segments, segments * self.segment_price(message.to))

    def segments(self, body: str) -> int:
        """The SMS segments of `body`, counted once while it stays among the last texts."""
        segments = self._segments.get(body)
        if segments is None:
            segments = sms_length(body).segments
            if len(self._segments) >= TEXTS_KEPT:
                self._segments = {}
            self._segments[body] = segments
        return segments

    def segment_price(self, number: str) -> int:
        """The micros of one segment to an E.164 number (the default for an unknown country)."""
        if number.startswith("+"):
            # Calling codes are prefix-free: the first one found is the number's.
            for length in (1, 2, 3):
                price = self._by_calling_code.get(number[1 : 1 + length])
                if price is not None:
                    return self._region_price(number) if price == _SHARED else price
        return self._prices.sms_segment

    def _parsed_segment_price(self, number: str) -> int:
        try:
            parsed = phonenumbers.parse(number)
        except phonenumbers.NumberParseException:
            return self._prices.sms_segment
        region = phonenumbers.region_code_for_number(parsed)
        if region is None and parsed.country_code is not None:
            # A number no country's plan claims is priced as its calling code's main country.
            region = phonenumbers.region_code_for_country_code(parsed.country_code)
        return self._prices.segment_price(region)


def _price_by_calling_code(prices: Prices) -> dict[str, int]:
    """Each calling code's price per segment, or `_SHARED` where its countries differ."""
    table: dict[str, int] = {}
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        found = {prices.segment_price(region) for region in regions}
        table[str(code)] = found.pop() if len(found) == 1 else _SHARED
    return table
