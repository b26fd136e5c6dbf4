"""The price of each message as it is sent: segments of its text at its country's price."""

from __future__ import annotations

import pytest

from notifier.channels.base import OutgoingEmail, OutgoingSms
from notifier.costs import MessageCost, Prices
from notifier.dispatch.pricing import Pricer

PRICES = Prices(
    currency="USD",
    sms_segment=50_000,
    sms_segment_by_region={"KE": 45_100, "CH": 78_800, "CA": 9_000, "KZ": 30_000},
    email=300,
)
GSM_TWO_SEGMENTS = "Leave the building by the stairs. " * 5  # 170 GSM-7 characters
UCS2_TWO_SEGMENTS = "Покиньте здание по лестнице. " * 3  # 87 UCS-2 units


@pytest.mark.parametrize(
    ("number", "price"),
    [
        ("+254720000001", 45_100),  # Kenya: its calling code is its own
        ("+41791234567", 78_800),  # Switzerland
        ("+33612345678", 50_000),  # France: no price of its own, the default
        ("+14165550123", 9_000),  # Toronto: +1 is shared, Canada has a price of its own
        ("+12125550123", 50_000),  # New York: the United States has none
        ("+15550000001", 50_000),  # a +1 number no plan claims: the United States
        ("+77012345678", 30_000),  # Kazakhstan shares +7 with Russia
        ("+79123456789", 50_000),  # Russia
        ("+999123", 50_000),  # no such calling code
        ("0720000001", 50_000),  # not E.164
    ],
)
def test_a_segment_is_priced_by_the_numbers_country(number: str, price: int) -> None:
    """The country comes from the calling code, or from the number where the code is shared."""
    assert Pricer(PRICES).segment_price(number) == price


def test_an_sms_costs_its_segments_and_an_email_its_price() -> None:
    """GSM-7 texts count 153 characters a segment, UCS-2 texts 67; an e-mail has no segments."""
    pricer = Pricer(PRICES)
    assert pricer.cost(OutgoingSms("+254720000001", GSM_TWO_SEGMENTS)) == MessageCost(2, 90_200)
    assert pricer.cost(OutgoingSms("+41791234567", UCS2_TWO_SEGMENTS)) == MessageCost(2, 157_600)
    assert pricer.cost(OutgoingSms("+41791234567", "Reply 1 if safe")) == MessageCost(1, 78_800)
    email = OutgoingEmail("a@example.org", "Earthquake", "Leave.", "<p>Leave.</p>", "r@x.org")
    assert pricer.cost(email) == MessageCost(None, 300)


def test_with_one_price_for_all_every_number_costs_it() -> None:
    """With one price for every country, any number, even one no plan claims, costs the same."""
    pricer = Pricer(Prices(sms_segment=7_500))
    numbers = ("+14165550123", "+15550000001", "+79123456789", "+4407700900123", "+1")
    assert {pricer.segment_price(number) for number in numbers} == {7_500}
