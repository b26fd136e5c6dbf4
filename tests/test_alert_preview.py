"""The preview's pure parts: which numbers share a price, how long sending takes."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from notifier.alert_preview import priced_alike, seconds_to_send
from notifier.costs import Prices

KENYA_AND_CANADA = Prices(
    sms_segment=50_000, sms_segment_by_region=MappingProxyType({"KE": 20_000, "CA": 7_500})
)


@pytest.mark.parametrize(
    ("prefix", "alike"),
    [
        ("+254", True),  # Kenya alone has +254
        ("+417", True),  # Switzerland (+41) alone, at the default price
        ("+120", False),  # +1: the United States at the default, Canada at its own
        ("+790", True),  # +7: Russia and Kazakhstan, neither priced: both at the default
        ("0722", True),  # not E.164: the default price
        ("+", True),
    ],
)
def test_priced_alike(prefix: str, alike: bool) -> None:
    """Only a calling code shared by countries priced apart needs each number parsed."""
    assert priced_alike(KENYA_AND_CANADA, prefix) is alike


def test_the_slower_channel_decides_the_time_to_reach_everyone() -> None:
    """Each channel's messages at its own rate; both channels send side by side."""
    seconds = seconds_to_send(sms=50_000, email=40_000, sms_rate=10.0, email_rate=50.0)
    assert (seconds.sms, seconds.email, seconds.total) == (5000.0, 800.0, 5000.0)
    nothing = seconds_to_send(sms=0, email=0, sms_rate=10.0, email_rate=50.0)
    assert nothing.total == 0.0
