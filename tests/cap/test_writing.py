"""Writing alerts as CAP 1.2: every kind valid against the schema, with CAP's words for ours."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from notifier.cap.areas import stations_in_message
from notifier.cap.message import (
    CapCertainty,
    CapCircle,
    CapMsgType,
    CapScope,
    CapSeverity,
    CapStatus,
    CapUrgency,
    cap_datetime,
)
from notifier.cap.reading import read_cap
from notifier.cap.writing import STATION_RADIUS_KM, CapExport, CapOriginal, write_cap
from notifier.cap.xml_safety import parse_cap_xml
from notifier.domain import AlertKind, Language, Severity

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
SENT = datetime(2026, 12, 3, 13, 22, 50, 987654, tzinfo=UTC)
ALERT = CapExport(
    identifier="notifier.example.org-alert-42",
    sender="notifier@example.org",
    sent=SENT,
    kind=AlertKind.EMERGENCY,
    severity=Severity.SEVERE,
    title="Armed clashes near the compound",
    message="Stay indoors, away from windows. Answer SAFE or HELP.",
    language=Language.EN,
    restriction="Staff of the organisation and its security partners",
    stations=[
        ("NBO", "Nairobi", -1.2921, 36.8219),
        ("GVA", "Geneva", 46.2044, 6.1432),
        ("REMOTE", "Field office", None, None),
    ],
)


def texts(document: bytes, path: str) -> list[str]:
    """The texts of the elements at an XPath, in the CAP namespace as `cap:`."""
    found = etree.fromstring(document).xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [str(element.text) for element in found if isinstance(element, etree._Element)]


@pytest.mark.parametrize(
    ("kind", "status", "certainty"),
    [
        (AlertKind.EMERGENCY, CapStatus.ACTUAL, CapCertainty.OBSERVED),
        (AlertKind.DRILL, CapStatus.EXERCISE, CapCertainty.OBSERVED),
        (AlertKind.TEST, CapStatus.TEST, CapCertainty.UNKNOWN),
    ],
)
@pytest.mark.parametrize("cancelled", [False, True])
def test_every_kind_validates_with_its_status(
    kind: AlertKind, status: CapStatus, certainty: CapCertainty, cancelled: bool
) -> None:
    """Emergency, drill and test, sent or cancelled: valid CAP 1.2, with the status of the kind."""
    original = CapOriginal(identifier=ALERT.identifier, sent=SENT)
    export = replace(
        ALERT,
        kind=kind,
        identifier=ALERT.identifier + ("-cancel" if cancelled else ""),
        cancels=original if cancelled else None,
    )
    document = write_cap(export)
    parse_cap_xml(document)  # raises unless valid against the shipped schema
    message = read_cap(document)
    assert message.status is status
    assert message.msg_type is (CapMsgType.CANCEL if cancelled else CapMsgType.ALERT)
    assert message.scope is CapScope.RESTRICTED
    (info,) = message.infos
    assert info.certainty is certainty
    assert info.urgency is CapUrgency.IMMEDIATE
    assert info.categories == ("Safety",)


def test_emergency_fields() -> None:
    """Identifier, sender, restriction, severity, headline, description and instruction."""
    message = read_cap(write_cap(ALERT))
    assert message.identifier == ALERT.identifier
    assert message.sender == ALERT.sender
    assert message.sent == SENT.replace(microsecond=0)
    assert message.references is None
    (info,) = message.infos
    assert info.language == "en"
    assert info.event == info.headline == "Armed clashes near the compound"
    assert info.severity is CapSeverity.SEVERE
    assert info.description == info.instruction == ALERT.message


def test_document_starts_with_an_xml_declaration_in_utf_8() -> None:
    """UTF-8 bytes with a declaration; Arabic survives."""
    document = write_cap(replace(ALERT, title="إخلاء", language=Language.AR))
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<alert xmlns=")
    assert "إخلاء".encode() in document


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Severity.EXTREME, CapSeverity.EXTREME),
        (Severity.SEVERE, CapSeverity.SEVERE),
        (Severity.MODERATE, CapSeverity.MODERATE),
        (Severity.MINOR, CapSeverity.MINOR),
    ],
)
def test_severity_is_mapped(ours: Severity, theirs: CapSeverity) -> None:
    """Each of our severities is CAP's of the same name."""
    assert read_cap(write_cap(replace(ALERT, severity=ours))).infos[0].severity is theirs


def test_cancel_references_the_original() -> None:
    """A Cancel names sender, identifier and sent time of the original alert."""
    cancel = replace(
        ALERT,
        identifier="notifier.example.org-alert-42-cancel",
        sent=SENT + timedelta(minutes=20),
        cancels=CapOriginal(identifier=ALERT.identifier, sent=SENT),
    )
    document = write_cap(cancel)
    assert texts(document, "/cap:alert/cap:msgType") == ["Cancel"]
    assert texts(document, "/cap:alert/cap:references") == [
        "notifier@example.org,notifier.example.org-alert-42,2026-12-03T13:22:50+00:00"
    ]
    assert texts(document, "/cap:alert/cap:sent") == ["2026-12-03T13:42:50+00:00"]


def test_one_info_per_language_with_text() -> None:
    """The alert's language first, then the others in order; blank ones left out."""
    export = replace(
        ALERT,
        language=Language.FR,
        message="Restez à l'intérieur.",
        messages={
            Language.ES: "Quédense adentro.",
            Language.AR: "ابقوا في الداخل.",
            Language.RU: "   ",
            Language.ZH: "",
            Language.FR: "ignored: the alert's own message wins",
        },
    )
    message = read_cap(write_cap(export))
    assert [(info.language, info.description) for info in message.infos] == [
        ("fr", "Restez à l'intérieur."),
        ("ar", "ابقوا في الداخل."),
        ("es", "Quédense adentro."),
    ]
    assert {len(info.areas) for info in message.infos} == {3}


def test_an_area_per_station_with_a_circle_when_it_has_coordinates() -> None:
    """Named areas; a circle of STATION_RADIUS_KM around those with a place; none without."""
    document = write_cap(ALERT)
    areas = read_cap(document).infos[0].areas
    assert [area.area_desc for area in areas] == [
        "Nairobi (NBO)",
        "Geneva (GVA)",
        "Field office (REMOTE)",
    ]
    assert areas[0].circles == (CapCircle(-1.2921, 36.8219, STATION_RADIUS_KM),)
    assert areas[1].circles == (CapCircle(46.2044, 6.1432, STATION_RADIUS_KM),)
    assert (areas[2].circles, areas[2].polygons, areas[2].geocodes) == ((), (), ())
    remote = etree.fromstring(document).xpath("//cap:area[3]/*", namespaces=NS)
    assert isinstance(remote, list)
    assert [
        etree.QName(element).localname for element in remote if isinstance(element, etree._Element)
    ] == ["areaDesc"]


def test_an_exported_alert_matches_its_own_stations() -> None:
    """Read back, the document's circles match the stations with coordinates, and no other."""
    message = read_cap(write_cap(ALERT))
    stations = [("NBO", -1.2921, 36.8219), ("GVA", 46.2044, 6.1432), ("MBA", -4.0435, 39.6682)]
    assert stations_in_message(message, [*stations, ("REMOTE", None, None)]) == ["GVA", "NBO"]


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (datetime(2026, 12, 3, 13, 22, 50, 999999, tzinfo=UTC), "2026-12-03T13:22:50+00:00"),
        (
            datetime(2026, 12, 3, 16, 22, 50, tzinfo=timezone(timedelta(hours=3))),
            "2026-12-03T16:22:50+03:00",
        ),
        (
            datetime(2026, 12, 3, 8, 52, 50, tzinfo=timezone(timedelta(hours=-4, minutes=-30))),
            "2026-12-03T08:52:50-04:30",
        ),
        (
            datetime(2026, 12, 3, 13, 42, 40, tzinfo=timezone(timedelta(minutes=19, seconds=50))),
            "2026-12-03T13:22:50+00:00",
        ),
    ],
)
def test_sent_is_whole_seconds_with_its_offset(moment: datetime, written: str) -> None:
    """Fractions dropped, +00:00 for UTC (never -00:00), an offset in seconds given in UTC."""
    assert cap_datetime(moment) == written
    document = write_cap(replace(ALERT, sent=moment))
    assert texts(document, "/cap:alert/cap:sent") == [written]


def test_a_naive_time_is_refused() -> None:
    """A time without zone cannot be written: CAP needs the offset."""
    with pytest.raises(ValueError, match="time zone"):
        write_cap(replace(ALERT, sent=datetime(2026, 12, 3, 13, 22, 50)))


def test_control_characters_of_an_officer_are_dropped() -> None:
    """Characters XML cannot carry are left out; the document stays valid."""
    export = replace(ALERT, title="Bell\x07 and\x00 null", message="Line one\nline two\x1b")
    message = read_cap(write_cap(export))
    assert message.infos[0].headline == "Bell and null"
    assert message.infos[0].description == "Line one\nline two"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"identifier": "has space"}, "identifier must be"),
        ({"identifier": "has,comma"}, "identifier must be"),
        ({"sender": ""}, "sender must be"),
        ({"sender": "a<b"}, "sender must be"),
        ({"restriction": "  "}, "needs a restriction"),
        ({"cancels": CapOriginal("two words", SENT)}, "identifier must be"),
        ({"stations": [("X", "X", 91.0, 0.0)]}, "no such place"),
        ({"stations": [("X", "X", 0.0, float("nan"))]}, "no such place"),
    ],
)
def test_what_cap_cannot_say_is_refused(change: dict[str, object], reason: str) -> None:
    """Names CAP forbids, a Restricted message without restriction, a place off the Earth."""
    with pytest.raises(ValueError, match=reason):
        write_cap(replace(ALERT, **change))  # type: ignore[arg-type]
