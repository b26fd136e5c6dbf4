"""Reading CAP 1.2: the specification's examples become messages; bad geometry is named."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from notifier.cap.message import (
    CapArea,
    CapCertainty,
    CapCircle,
    CapMsgType,
    CapScope,
    CapSeverity,
    CapStatus,
    CapUrgency,
)
from notifier.cap.reading import read_cap
from notifier.cap.xml_safety import CapError

EXAMPLES = Path(__file__).parent / "examples"
PDT = timezone(timedelta(hours=-7))


def example(name: str) -> bytes:
    """One of the specification's example documents."""
    return (EXAMPLES / f"{name}.xml").read_bytes()


def test_homeland_security_advisory() -> None:
    """A.1: one info, Security, an area with a description only."""
    message = read_cap(example("HomelandAlert"))
    assert message.identifier == "43b080713727"
    assert message.sender == "hsas@dhs.gov"
    assert message.sent == datetime(2003, 4, 2, 14, 39, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert (message.status, message.msg_type, message.scope) == (
        CapStatus.ACTUAL,
        CapMsgType.ALERT,
        CapScope.PUBLIC,
    )
    assert message.references is None
    (info,) = message.infos
    assert info.language == "en-US"  # the schema's default: the example names none
    assert info.categories == ("Security",)
    assert info.event == "Homeland Security Advisory System Update"
    assert (info.urgency, info.severity, info.certainty) == (
        CapUrgency.IMMEDIATE,
        CapSeverity.SEVERE,
        CapCertainty.LIKELY,
    )
    assert info.headline == "Homeland Security Sets Code ORANGE"
    assert info.description is not None
    assert info.description.startswith("The Department of Homeland Security has elevated")
    assert info.instruction is not None
    assert info.instruction.startswith("A High Condition is declared")
    assert info.areas == (CapArea(area_desc="U.S. nationwide and interests worldwide"),)


def test_thunderstorm_warning() -> None:
    """A.2: the polygon as (lat, lon) points, three SAME geocodes, an expiry."""
    message = read_cap(example("ThunderstormWarning"))
    assert message.sent == datetime(2003, 6, 17, 14, 57, tzinfo=PDT)
    (info,) = message.infos
    assert info.categories == ("Met",)
    assert info.certainty is CapCertainty.OBSERVED
    assert info.expires == datetime(2003, 6, 17, 16, 0, tzinfo=PDT)
    assert info.instruction == "TAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE STORM PASSES."
    (area,) = info.areas
    assert area.polygons == (
        ((38.47, -120.14), (38.34, -119.95), (38.52, -119.74), (38.62, -119.89), (38.47, -120.14)),
    )
    assert area.circles == ()
    assert area.geocodes == (("SAME", "006109"), ("SAME", "006009"), ("SAME", "006003"))


def test_earthquake_report() -> None:
    """A.3: an Update referencing the first report, with a circle of radius 0."""
    message = read_cap(example("EarthquakeReport"))
    assert message.msg_type is CapMsgType.UPDATE
    assert message.references == "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00"
    (info,) = message.infos
    assert (info.urgency, info.severity) == (CapUrgency.PAST, CapSeverity.MINOR)
    assert info.instruction is None
    (area,) = info.areas
    assert area.circles == (CapCircle(latitude=32.9525, longitude=-115.5527, radius_km=0.0),)


def test_amber_alert() -> None:
    """A.4: two info blocks, English and Spanish, each with the county's geocode."""
    message = read_cap(example("AmberAlert"))
    assert [info.language for info in message.infos] == ["en-US", "es-US"]
    assert [info.event for info in message.infos] == ["Child Abduction", "Abducción de Niño"]
    assert [area.geocodes for area in message.areas] == [(("SAME", "006037"),)] * 2
    assert message.areas[1].area_desc == "condado de Los Ángeles"


def _with_geometry(element: str) -> bytes:
    """The thunderstorm warning with its polygon replaced by `element`."""
    original = example("ThunderstormWarning")
    start = original.index(b"<polygon>")
    end = original.index(b"</polygon>") + len(b"</polygon>")
    return original[:start] + element.encode() + original[end:]


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        ("<polygon>38.47,-120.14 38.34,-119.95 38.47,-120.14</polygon>", "three distinct points"),
        ("<polygon>38.47;-120.14 38.34,-119.95 38.52,-119.74</polygon>", "'latitude,longitude'"),
        ("<polygon>91,0 38.34,-119.95 38.52,-119.74 91,0</polygon>", "outside -90..90"),
        ("<polygon>38,-181 38.34,-119.95 38.52,-119.74 38,-181</polygon>", "outside -90..90"),
        ("<polygon>nan,0 38.34,-119.95 38.52,-119.74</polygon>", "not a finite number"),
        ("<circle>38.47,-120.14</circle>", "'latitude,longitude radius'"),
        ("<circle>38.47,-120.14 -3</circle>", "cannot be negative"),
        ("<circle>38.47,-120.14 far</circle>", "'far' is not a number"),
    ],
)
def test_bad_geometry_is_named_with_its_line(element: str, reason: str) -> None:
    """The schema lets any string be a polygon or circle; reading checks them."""
    document = _with_geometry(element)
    line = document[: document.index(element.encode())].count(b"\n") + 1
    name = element[1 : element.index(">")]
    with pytest.raises(CapError, match=f"line {line}: element '{name}': .*") as refused:
        read_cap(document)
    assert reason in str(refused.value)


def test_an_open_polygon_is_closed() -> None:
    """A ring whose last point is not its first is still read, as drawn."""
    message = read_cap(
        _with_geometry("<polygon>38.47,-120.14 38.34,-119.95 38.52,-119.74</polygon>")
    )
    assert message.areas[0].polygons == (((38.47, -120.14), (38.34, -119.95), (38.52, -119.74)),)


def test_a_time_the_schema_allows_but_python_cannot_read_is_named() -> None:
    """xs:dateTime allows 24:00:00; reading names the element rather than guess a day."""
    document = example("ThunderstormWarning").replace(
        b"<sent>2003-06-17T14:57:00-07:00", b"<sent>2003-06-17T24:00:00-07:00"
    )
    with pytest.raises(CapError, match=r"^line 7: element 'sent': .* is not a date and time$"):
        read_cap(document)


def test_an_impossible_date_is_refused_by_the_schema() -> None:
    """30 February: the schema's own dateTime check names `sent`."""
    document = example("ThunderstormWarning").replace(
        b"<sent>2003-06-17T14:57:00-07:00", b"<sent>2003-02-30T14:57:00-07:00"
    )
    with pytest.raises(CapError, match=r"line 7: Element 'sent': '2003-02-30T14:57:00-07:00'"):
        read_cap(document)
