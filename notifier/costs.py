"""What messages cost: prices as whole millionths of the currency (micros), summed exactly.

A price is read from the configuration as a decimal number and turned into micros once; a
message's cost is written with it when its provider accepts it, and an alert's cost is the
sum of its messages' micros, an integer, turned back into the currency only to be shown. So
no sum drifts, however many messages it counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from notifier.settings import CostsSettings

MICROS = 1_000_000
"""Millionths in one unit of the currency."""


def to_micros(price: Decimal) -> int:
    """A price in the currency as whole millionths of it (a half rounded to even)."""
    return round(price * MICROS)


def amount(micros: int) -> Decimal:
    """Micros as the exact amount of the currency they make."""
    return Decimal(micros).scaleb(-6)


def shown_amount(micros: int) -> str:
    """An amount for people: at least two decimals, more only where a price has them."""
    exact = amount(micros)
    cents = exact.quantize(Decimal("0.01"))
    return f"{cents if cents == exact else exact.normalize():f}"


@dataclass(frozen=True, slots=True)
class Prices:
    """The configured prices, in micros: per SMS segment (by destination country) and e-mail."""

    currency: str = "USD"
    sms_segment: int = 0
    sms_segment_by_region: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    email: int = 0
    whatsapp: int = 0

    @classmethod
    def configured(cls, costs: CostsSettings) -> Prices:
        """The prices of the `[costs]` section, converted to micros once."""
        return cls(
            currency=costs.currency,
            sms_segment=to_micros(costs.sms_segment_price),
            sms_segment_by_region=MappingProxyType(
                {region: to_micros(price) for region, price in costs.sms_segment_prices.items()}
            ),
            email=to_micros(costs.email_price),
            whatsapp=to_micros(costs.whatsapp_price),
        )

    def segment_price(self, region: str | None) -> int:
        """The micros of one SMS segment to a country (None: not known), its own or the default."""
        if region is None:
            return self.sms_segment
        return self.sms_segment_by_region.get(region, self.sms_segment)


@dataclass(frozen=True, slots=True)
class MessageCost:
    """What one message cost when it was sent: its SMS segments (None for an e-mail), its micros."""

    segments: int | None
    micros: int


@dataclass(frozen=True, slots=True)
class MessageCosts:
    """What an alert's messages (the alert and the notices about it) cost, in `currency`.

    `unpriced` counts the messages sent with no price kept (before prices were recorded):
    they are in neither the segments nor the amounts.
    """

    currency: str
    sms_segments: int = 0
    sms_micros: int = 0
    email_micros: int = 0
    unpriced: int = 0
    whatsapp_micros: int = 0
    voice_micros: int = 0

    @property
    def total_micros(self) -> int:
        """SMS, e-mail, WhatsApp and calls together."""
        return self.sms_micros + self.email_micros + self.whatsapp_micros + self.voice_micros
