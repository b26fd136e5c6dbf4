"""Prices: read from `[costs]` into millionths once, summed exactly, shown as they are."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from notifier.costs import MessageCosts, Prices, amount, shown_amount, to_micros
from notifier.errors import ConfigError
from notifier.settings import load_settings


def _costs_error(variables: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, variables)
    return str(raised.value)


def test_prices_are_read_as_decimals_and_kept_in_micros(tmp_path: Path) -> None:
    """A TOML float is read as the decimal written, country codes in any case, micros once."""
    path = tmp_path / "notifier.toml"
    path.write_text(
        '[costs]\ncurrency = "KES"\nsms_segment_price = 0.0075\n'
        'sms_segment_prices = { ke = 0.0451, CH = "0.0788" }\nemail_price = 0.0000005\n',
        encoding="utf-8",
    )
    costs = load_settings(path, {}).costs
    assert costs.sms_segment_prices == {"KE": Decimal("0.0451"), "CH": Decimal("0.0788")}
    prices = Prices.configured(costs)
    assert prices == Prices("KES", 7_500, {"KE": 45_100, "CH": 78_800}, 0)  # half to even
    assert (prices.segment_price("KE"), prices.segment_price("FR")) == (45_100, 7_500)
    assert prices.segment_price(None) == 7_500


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"NOTIFIER_COSTS__CURRENCY": "usd"}, "costs.currency: 'usd' is not an ISO 4217"),
        ({"NOTIFIER_COSTS__CURRENCY": "US$"}, "costs.currency: 'US$' is not an ISO 4217"),
        (
            {
                "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__XK": "1",
                "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__ZZ": "1",
            },
            "costs.sms_segment_prices: 'zz' is not an ISO 3166-1 alpha-2 country code",
        ),
        (
            {"NOTIFIER_COSTS__SMS_SEGMENT_PRICES__KE": "-0.01"},
            "costs.sms_segment_prices.ke: Input should be greater than or equal to 0",
        ),
        (
            {"NOTIFIER_COSTS__SMS_SEGMENT_PRICE": "100000.01"},
            "costs.sms_segment_price: Input should be less than or equal to 100000",
        ),
        ({"NOTIFIER_COSTS__EMAIL_PRICE": "nan"}, "costs.email_price: Input should be a finite"),
        ({"NOTIFIER_COSTS__EMAIL_PRICE": "free"}, "costs.email_price: Input should be a valid"),
        ({"NOTIFIER_COSTS__SMS_PRICE": "1"}, "costs.sms_price: unknown key"),
    ],
)
def test_a_bad_price_or_code_is_named(variables: dict[str, str], named: str) -> None:
    """Each mistake in `[costs]` stops loading with the key, and the code, that is wrong."""
    assert named in _costs_error(variables)


def test_a_country_given_twice_is_refused(tmp_path: Path) -> None:
    """`KE` and `ke` are one country: given both, the configuration is refused."""
    path = tmp_path / "notifier.toml"
    path.write_text("[costs]\nsms_segment_prices = { KE = 0.04, ke = 0.05 }\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"costs\.sms_segment_prices: 'ke': KE is given twice"):
        load_settings(path, {})


def test_sums_are_exact_and_shown_as_they_are() -> None:
    """Micros add up without drift; an amount shows two decimals, more only when it has them."""
    tenth = to_micros(Decimal("0.1"))
    assert amount(3 * tenth) == Decimal("0.3")
    assert [shown_amount(m) for m in (0, 10_000, 12_500_000, 135_300, 1)] == [
        "0.00",
        "0.01",
        "12.50",
        "0.1353",
        "0.000001",
    ]
    costs = MessageCosts("CHF", sms_segments=6, sms_micros=338_000, email_micros=600, unpriced=1)
    assert costs.total_micros == 338_600
