"""The raise form's fields as the API's request body, and the preview's time for people."""

from __future__ import annotations

import pytest

from notifier.alert_request import parse_alert_request
from notifier.console.preview_figures import duration
from notifier.console.raise_form import RaiseForm, blank_form, names
from notifier.domain import AlertKind, Channel, Severity
from notifier.web.forms import parse_form


def test_posted_fields_become_the_apis_request() -> None:
    """Ticked boxes repeat, names split on commas, semicolons and spaces, CR LF becomes LF."""
    form = parse_form(
        b"stations=NBO&stations=GVA&groups=wardens%3B+drivers&people=N1%2C+N2"
        b"&severity=extreme&kind=test&channels=email&title=Fire"
        b"&message=Leave.%0D%0ANow.&text_fr=Sortez.&text_ar=&csrf=x"
    )
    values = RaiseForm.posted(form)
    assert values.payload() == {
        "title": "Fire",
        "message": "Leave.\nNow.",
        "severity": "extreme",
        "kind": "test",
        "stations": ["NBO", "GVA"],
        "groups": ["wardens", "drivers"],
        "people": ["N1", "N2"],
        "channels": ["email"],
        "messages": {"fr": "Sortez."},
    }
    request = parse_alert_request(values.payload())
    assert request.kind is AlertKind.TEST
    assert request.severity is Severity.EXTREME
    assert request.channels == (Channel.EMAIL,)


def test_fields_post_the_same_values_again() -> None:
    """The preview's hidden fields, posted again, give the same values."""
    values = RaiseForm(
        stations=("NBO",),
        groups="wardens",
        kind="drill",
        channels=("sms",),
        title="Drill",
        message="Line one\nline two",
        texts={"ru": "Учения"},
    )
    encoded = "&".join(f"{name}={value}" for name, value in values.fields())
    assert RaiseForm.posted(parse_form(encoded.encode())) == values


def test_no_channel_ticked_is_no_channel() -> None:
    """A form without a ticked channel asks for none, which the API's parsing refuses."""
    values = RaiseForm.posted(
        parse_form(b"stations=NBO&title=t&message=m&severity=minor&kind=test")
    )
    assert values.payload()["channels"] == []
    with pytest.raises(Exception, match="channels: name at least one"):
        parse_alert_request(values.payload())


def test_a_blank_form_ticks_a_lone_station() -> None:
    """One station to alert is ticked already; of several, none is."""
    assert blank_form(("NBO",)).stations == ("NBO",)
    assert blank_form(("GVA", "NBO")).stations == ()
    assert blank_form(()).kind == "emergency"


def test_names_ignore_empty_parts() -> None:
    """Separators in a row and at the ends make no empty name."""
    assert names(" ,a;; b ,") == ["a", "b"]
    assert names("") == []


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.44, "0.4 s"), (42.4, "42 s"), (500.0, "8 min 20 s"), (7500.0, "2 h 5 min")],
)
def test_duration_for_people(seconds: float, shown: str) -> None:
    """Seconds to the tenth under ten, then whole seconds, minutes, hours."""
    assert duration(seconds) == shown
