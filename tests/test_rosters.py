"""Roster and station files: every kind of bad row is reported as FILE:LINE: column: reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.domain import Channel, Language
from notifier.errors import RosterError
from notifier.rosters import parse_roster, parse_stations
from notifier.tables_io import read_rows

HEADER = "person_id,name,email,phone,station,language,groups\n"
CHANNELS_HEADER = "person_id,name,email,phone,station,language,groups,channels\n"
STATIONS = {"NBO": "KE", "GVA": "CH", "NYC": "US", "BEY": "LB"}
WriteFile = Callable[..., Path]


def _problems(path: Path) -> list[str]:
    with pytest.raises(RosterError) as raised:
        parse_roster(path, STATIONS)
    return [str(problem) for problem in raised.value.problems]


def test_valid_roster_is_normalised(write_file: WriteFile) -> None:
    """National numbers are read in the station's country and stored in E.164; e-mail normalised."""
    path = write_file(
        "staff.csv",
        HEADER
        + "P1,Wanjiru Kamau,Wanjiru@Example.ORG,0722 000 111,NBO,,wardens; Security-Focal-Points\n"
        + "P2,Hélène Dubois,,+41 22 917 12 34,gva,FR,\n"
        + "P3,أحمد منصور,ahmed@example.org,,BEY,ar,\n",
    )
    first, second, third = parse_roster(path, STATIONS)
    assert first.phone == "+254722000111"
    assert first.email == "Wanjiru@example.org"
    assert first.language is Language.EN
    assert first.groups == ("wardens", "security-focal-points")
    assert (second.station, second.language, second.phone) == ("GVA", Language.FR, "+41229171234")
    assert third.name == "أحمد منصور"
    assert third.phone is None


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "P1,A,a@example.org,0722 000,NBO,en,",
            "staff.csv:2: phone: '0722 000' is not a valid phone number in KE",
        ),
        (
            "P1,A,a@example.org,call me,NBO,en,",
            "staff.csv:2: phone: 'call me' is not a phone number",
        ),
        (
            "P1,A,not-an-address,,NBO,en,",
            "staff.csv:2: email: 'not-an-address' is not a valid e-mail address",
        ),
        ("P1,A,a@example.org,,XYZ,en,", "staff.csv:2: station: unknown station 'XYZ'"),
        ("P1,A,,,NBO,en,", "staff.csv:2: phone: a phone or an e-mail address is required"),
        (
            "P1,A,a@example.org,,NBO,de,",
            "staff.csv:2: language: unknown language 'de'; one of ar, zh, en, fr, ru, es",
        ),
        (",A,a@example.org,,NBO,en,", "staff.csv:2: person_id: required"),
        ("P1,,a@example.org,,NBO,en,", "staff.csv:2: name: required"),
        ("P1,A,a@example.org,,NBO,en,war dens", "staff.csv:2: groups: group 'war dens' must be"),
        ("P1,A,a@example.org,,NBO,en", "staff.csv:2: row: 6 values, the header has 7"),
    ],
)
def test_each_bad_value_is_reported(write_file: WriteFile, row: str, expected: str) -> None:
    """Each kind of bad row gives one problem naming file, line, column and reason."""
    problems = _problems(write_file("staff.csv", HEADER + row + "\n"))
    assert len(problems) == 1
    assert problems[0].startswith(expected), problems[0]


def test_duplicate_person_id_names_first_line(write_file: WriteFile) -> None:
    """A person_id repeated in the file is reported at the repeat, naming the first line."""
    path = write_file(
        "staff.csv", HEADER + "P1,A,a@example.org,,NBO,en,\n" + "P1,B,b@example.org,,NBO,en,\n"
    )
    assert _problems(path) == ["staff.csv:3: person_id: duplicate of line 2"]


def test_every_bad_row_is_reported_with_its_line(write_file: WriteFile) -> None:
    """All bad rows are listed, not just the first, with the file's own line numbers."""
    path = write_file(
        "staff.csv",
        HEADER
        + "P1,A,a@example.org,,NBO,en,\n"
        + "\n"  # a blank line still counts as a line
        + 'P2,"Two\nLines",bad,,NBO,en,\n'
        + "P3,C,c@example.org,,NBO,xx,\n",
    )
    problems = _problems(path)
    assert problems[0].startswith("staff.csv:4: email:")
    assert problems[1].startswith("staff.csv:6: language:")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "person_id,name,email,station,language,groups\n",
            "staff.csv:1: header: missing column(s): phone",
        ),
        (HEADER.strip() + ",office\n", "staff.csv:1: header: unknown column(s): 'office'"),
    ],
)
def test_missing_or_extra_columns(write_file: WriteFile, header: str, expected: str) -> None:
    """A header without a required column, or with an unknown one, rejects the file."""
    assert _problems(write_file("staff.csv", header + "P1,A,a@example.org,,NBO,en,\n")) == [
        expected
    ]


def test_file_that_is_not_utf8(write_file: WriteFile) -> None:
    """A Latin-1 file is rejected at the line of its first non-UTF-8 byte."""
    content = (HEADER + "P1,A,a@example.org,,NBO,en,\nP2,Hélène,h@example.org,,GVA,fr,\n").encode(
        "latin-1"
    )
    problems = _problems(write_file("staff.csv", content))
    assert problems == ["staff.csv:3: file: not UTF-8 text (byte 0xe9); save it as UTF-8"]


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_file(write_file: WriteFile, content: str) -> None:
    """An empty file is an error that says which header was expected."""
    problems = _problems(write_file("staff.csv", content))
    assert problems == [
        "staff.csv:1: file: empty file; expected the header "
        "person_id,name,email,phone,station,language,groups"
    ]


def test_header_only_file_is_an_empty_roster(write_file: WriteFile) -> None:
    """A file with a header and no rows is valid and holds nobody."""
    assert parse_roster(write_file("staff.csv", HEADER), STATIONS) == []


def test_byte_order_mark_is_accepted(write_file: WriteFile) -> None:
    """Spreadsheets save UTF-8 with a byte order mark; the header still matches."""
    path = write_file("staff.csv", ("\ufeff" + HEADER + "P1,A,a@example.org,,NBO,en,\n").encode())
    assert [record.person_id for record in parse_roster(path, STATIONS)] == ["P1"]


def test_json_roster_with_line_numbers(write_file: WriteFile) -> None:
    """A JSON roster takes the same keys; problems name the line where the object starts."""
    people: list[dict[str, object]] = [
        {
            "person_id": "P1",
            "name": "张伟",
            "email": "",
            "phone": "+254722000111",
            "station": "NBO",
            "language": "zh",
            "groups": ["wardens"],
        },
        {
            "person_id": "P2",
            "name": "Иван Петров",
            "email": "ivan@",
            "phone": "",
            "station": "NBO",
            "language": "ru",
            "groups": "",
        },
    ]
    path = write_file("staff.json", json.dumps(people, ensure_ascii=False, indent=2))
    problems = _problems(path)
    assert len(problems) == 1
    assert problems[0].startswith("staff.json:13: email: 'ivan@'")
    people[1]["email"] = "ivan@example.org"
    records = parse_roster(write_file("good.json", json.dumps(people)), STATIONS)
    assert [record.groups for record in records] == [("wardens",), ()]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"person_id": "P1"}', "staff.json:1: file: expected a JSON list of objects"),
        ('[{"person_id": "P1",', "staff.json:1: file: not valid JSON"),
        (
            '[{"person_id": "P1", "name": "A"}]',
            "staff.json:1: header: missing column(s): station",
        ),
        (
            '[{"person_id": 1, "name": "A", "email": "a@example.org", "phone": "", "station": "NBO", '
            '"language": true, "groups": ""}]',
            "staff.json:1: language: must be text",
        ),
    ],
)
def test_bad_json_roster(write_file: WriteFile, content: str, expected: str) -> None:
    """A JSON roster that is not a list of objects with the roster's keys is rejected."""
    problems = _problems(write_file("staff.json", content))
    assert problems[0].startswith(expected), problems


def test_stations_file(write_file: WriteFile) -> None:
    """Stations are read with country, IANA zone and optional coordinates."""
    path = write_file(
        "stations.csv",
        "code,name,country,timezone,latitude,longitude\n"
        'NBO,"United Nations Office at Nairobi",KE,Africa/Nairobi,-1.2341,36.8147\n'
        "GVA,United Nations Office at Geneva,ch,Europe/Zurich,,\n",
    )
    nairobi, geneva = parse_stations(path)
    assert (nairobi.code, nairobi.country, nairobi.latitude) == ("NBO", "KE", -1.2341)
    assert (geneva.country, geneva.latitude) == ("CH", None)


def test_bad_stations_are_all_reported(write_file: WriteFile) -> None:
    """Bad codes, countries, zones, coordinates and duplicates are each reported."""
    path = write_file(
        "stations.csv",
        "code,name,country,timezone,latitude,longitude\n"
        "nbo,Nairobi,KE,Africa/Nairobi,,\n"
        "GVA,Geneva,XX,Europe/Zurich,,\n"
        "VIE,Vienna,AT,Europe/Vienne,,\n"
        "BKK,Bangkok,TH,Asia/Bangkok,95,\n"
        "BKK,Bangkok,TH,Asia/Bangkok,,\n",
    )
    with pytest.raises(RosterError) as raised:
        parse_stations(path)
    assert [str(problem) for problem in raised.value.problems] == [
        "stations.csv:2: code: 'nbo' is not 2 to 8 upper-case letters or digits",
        "stations.csv:3: country: 'XX' is not an ISO 3166-1 alpha-2 country code",
        "stations.csv:4: timezone: 'Europe/Vienne' is not an IANA time zone (such as Africa/Nairobi)",
        "stations.csv:5: latitude: 95 is outside -90..90",
        "stations.csv:6: code: duplicate of line 5",
    ]


def test_shipped_contacts_are_valid() -> None:
    """The stations and sample rosters shipped in contacts/ validate, in all six languages."""
    contacts = Path(__file__).parent.parent / "contacts"
    stations = parse_stations(contacts / "stations.csv")
    countries = {station.code: station.country for station in stations}
    people = [
        record
        for roster in sorted(contacts.glob("roster-*"))
        for record in parse_roster(roster, countries)
    ]
    assert len(stations) >= 15
    assert {record.language for record in people} == set(Language)
    assert len({record.person_id for record in people}) == len(people)


def test_parallel_validation_matches_sequential(write_file: WriteFile) -> None:
    """A large file checked in worker processes gives the same records and problems, in order."""
    lines = [HEADER]
    for index in range(6_000):
        lines.append(f"P{index},Person {index},p{index}@example.org,+25472{index:07d},NBO,en,\n")
    lines[10] = "P8,Duplicate In First Half,d@example.org,,NBO,en,\n"
    lines[5_500] = "P5499,Bad Phone,,0722,NBO,en,\n"
    lines[5_900] = "P1,Duplicate Across Halves,x@example.org,,NBO,en,\n"
    good = write_file("good.csv", "".join(lines[:10] + lines[11:5_500]))
    bad = write_file("bad.csv", "".join(lines))
    assert parse_roster(good, STATIONS, workers=2) == parse_roster(good, STATIONS, workers=1)
    problems = []
    for workers in (1, 2):
        with pytest.raises(RosterError) as raised:
            parse_roster(bad, STATIONS, workers=workers)
        problems.append([str(problem) for problem in raised.value.problems])
    assert (
        problems[0]
        == problems[1]
        == [
            "bad.csv:11: person_id: duplicate of line 10",
            "bad.csv:5501: phone: '0722' is not a valid phone number in KE",
            "bad.csv:5901: person_id: duplicate of line 3",
        ]
    )


def test_channels_are_read_in_order_and_normalised(write_file: WriteFile) -> None:
    """Names are trimmed and compared case-insensitively; their order is kept; empty: default."""
    path = write_file(
        "staff.csv",
        CHANNELS_HEADER
        + 'P1,A,a@example.org,+254722000111,NBO,en,," WhatsApp ,EMAIL"\n'
        + "P2,B,b@example.org,,NBO,en,,\n"
        + "P3,C,,+254722000333,NBO,en,,sms\n",
    )
    first, second, third = parse_roster(path, STATIONS)
    assert first.channels == (Channel.WHATSAPP, Channel.EMAIL)
    assert (second.channels, third.channels) == ((), (Channel.SMS,))
    assert first.channels_given and second.channels_given and third.channels_given


def test_csv_without_channels_column_is_valid(write_file: WriteFile) -> None:
    """A roster without the optional column reads as before and says it had no channels."""
    (record,) = parse_roster(
        write_file("staff.csv", HEADER + "P1,A,a@example.org,,NBO,en,\n"), STATIONS
    )
    assert (record.channels, record.channels_given) == ((), False)


def test_optional_column_is_absent_from_the_row_values(write_file: WriteFile) -> None:
    """read_rows tells a file without an optional column from one whose cell is empty."""
    without = write_file("a.csv", "x,y\n1,2\n")
    with_empty = write_file("b.csv", "x,z,y\n1,,2\n")
    assert read_rows(without, ("x", "y"), optional_columns=("z",))[0].values == {"x": "1", "y": "2"}
    assert read_rows(with_empty, ("x", "y"), optional_columns=("z",))[0].values == {
        "x": "1",
        "z": "",
        "y": "2",
    }


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "P1,A,a@example.org,+254722000111,NBO,en,,fax",
            "staff.csv:2: channels: unknown channel 'fax'; one of sms, email, whatsapp, voice",
        ),
        (
            'P1,A,a@example.org,+254722000111,NBO,en,,"sms, email,SMS"',
            "staff.csv:2: channels: sms is given twice",
        ),
        (
            "P1,A,a@example.org,,NBO,en,,whatsapp",
            "staff.csv:2: channels: whatsapp needs a phone number; this person has none",
        ),
        (
            'P1,A,a@example.org,,NBO,en,,"sms,whatsapp"',
            "staff.csv:2: channels: sms and whatsapp need a phone number; this person has none",
        ),
        (
            "P1,A,,+254722000111,NBO,en,,email",
            "staff.csv:2: channels: email needs an e-mail address; this person has none",
        ),
    ],
)
def test_bad_channels_are_reported(write_file: WriteFile, row: str, expected: str) -> None:
    """An unknown or repeated name, or only channels without their contact, rejects the row."""
    assert _problems(write_file("staff.csv", CHANNELS_HEADER + row + "\n")) == [expected]


def test_one_reachable_channel_is_enough(write_file: WriteFile) -> None:
    """WhatsApp first for someone without a phone is accepted when e-mail follows it."""
    path = write_file(
        "staff.csv", CHANNELS_HEADER + 'P1,A,a@example.org,,NBO,en,,"whatsapp,email"\n'
    )
    assert parse_roster(path, STATIONS)[0].channels == (Channel.WHATSAPP, Channel.EMAIL)


def test_unknown_column_is_still_refused_beside_channels(write_file: WriteFile) -> None:
    """The optional column does not open the header to other unknown columns."""
    path = write_file(
        "staff.csv", CHANNELS_HEADER.strip() + ",fax\nP1,A,a@example.org,,NBO,en,,,\n"
    )
    assert _problems(path) == ["staff.csv:1: header: unknown column(s): 'fax'"]


def test_json_channels_as_text_or_list(write_file: WriteFile) -> None:
    """A JSON roster gives channels as comma-separated text or a list, or leaves the key out."""
    base = {"person_id": "P1", "name": "A", "email": "a@example.org", "phone": "+254722000111"}
    people = [
        base | {"station": "NBO", "channels": "WhatsApp, sms"},
        base | {"person_id": "P2", "station": "NBO", "channels": ["email", " whatsapp"]},
        base | {"person_id": "P3", "station": "NBO", "channels": None},
        base | {"person_id": "P4", "station": "NBO"},
    ]
    records = parse_roster(write_file("staff.json", json.dumps(people)), STATIONS)
    assert [(record.channels, record.channels_given) for record in records] == [
        ((Channel.WHATSAPP, Channel.SMS), True),
        ((Channel.EMAIL, Channel.WHATSAPP), True),
        ((), True),
        ((), False),
    ]


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (["sms", "fax"], "staff.json:1: channels: unknown channel 'fax'"),
        (["sms", 3], "staff.json:1: channels: must be text or a list of text"),
        (["email", "Email"], "staff.json:1: channels: email is given twice"),
    ],
)
def test_bad_json_channels(write_file: WriteFile, channels: list[object], expected: str) -> None:
    """A JSON list of channels is checked name by name like the CSV text."""
    person = {"person_id": "P1", "name": "A", "email": "a@example.org", "station": "NBO"}
    problems = _problems(write_file("staff.json", json.dumps([person | {"channels": channels}])))
    assert len(problems) == 1
    assert problems[0].startswith(expected), problems
