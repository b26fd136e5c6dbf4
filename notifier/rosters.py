"""Validate station and roster files into records, reporting every bad value."""

from __future__ import annotations

import multiprocessing
import os
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from itertools import repeat
from pathlib import Path
from typing import TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from notifier.domain import Channel, Language
from notifier.errors import RosterError, RowProblem
from notifier.tables_io import Row, read_rows

STATION_COLUMNS = ("code", "name", "country", "timezone", "latitude", "longitude")
ROSTER_COLUMNS = ("person_id", "name", "email", "phone", "station", "language", "groups")
OPTIONAL_JSON_KEYS = ("email", "phone", "language", "groups")
"""Keys a JSON roster's object may leave out (empty when absent); a CSV has every column."""
CHANNELS = "channels"
OPTIONAL_ROSTER_COLUMNS = (CHANNELS,)
"""Columns a roster may have or not, CSV or JSON; without `channels`, people keep theirs."""
_CHANNEL_NAMES = ", ".join(channel.value for channel in Channel)
_NEEDS_PHONE = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE})

_STATION_CODE = re.compile(r"[A-Z0-9]{2,8}")
_GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LANGUAGES = ", ".join(language.value for language in Language)
MAX_NAME_LENGTH = 200
MAX_PERSON_ID_LENGTH = 64
PARALLEL_MIN_ROWS = 5_000
"""Below this many rows, starting worker processes costs more than it saves."""
_CAN_FORK = "fork" in multiprocessing.get_all_start_methods()
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StationRecord:
    """A valid row of the stations file."""

    code: str
    name: str
    country: str
    timezone: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A valid row of a roster file, with its phone in E.164 and its e-mail normalised."""

    person_id: str
    name: str
    email: str | None
    phone: str | None
    station: str
    language: Language
    groups: tuple[str, ...]
    line: int
    channels: tuple[Channel, ...] = ()
    """The person's channels in order of preference; empty: the default, SMS and e-mail."""
    channels_given: bool = False
    """Whether the row had the `channels` column (CSV) or key (JSON) at all, even empty; if not,
    a known person keeps their channels."""


class _InvalidValueError(ValueError):
    """One column's value is invalid; its message is the reason shown to the user."""


def parse_stations(path: Path, *, name: str | None = None) -> list[StationRecord]:
    """Read and validate a stations file; raise RosterError listing every bad value."""
    rows = read_rows(path, STATION_COLUMNS, name=name)
    source = name or str(path)
    problems: list[RowProblem] = []
    records: list[StationRecord] = []
    first_line: dict[str, int] = {}
    for row in rows:
        fields = _Fields(row, source, problems)
        code = fields.take("code", _station_code)
        record = StationRecord(
            code=code or "",
            name=fields.take("name", _required_name) or "",
            country=fields.take("country", _country) or "",
            timezone=fields.take("timezone", _timezone) or "",
            latitude=fields.take("latitude", _coordinate(90)),
            longitude=fields.take("longitude", _coordinate(180)),
        )
        if code and code in first_line:
            fields.problem("code", f"duplicate of line {first_line[code]}")
        elif code:
            first_line[code] = row.line
        if fields.ok:
            records.append(record)
    if problems:
        raise RosterError(problems)
    return records


def parse_roster(
    path: Path,
    station_countries: Mapping[str, str],
    *,
    name: str | None = None,
    workers: int | None = None,
) -> list[PersonRecord]:
    """Read and validate a roster file against the known stations (code → country).

    Large files are validated in `workers` processes (default: one per CPU): checking phone
    numbers and e-mail addresses is most of an import's time, and it parallelises cleanly.
    """
    rows = read_rows(
        path,
        ROSTER_COLUMNS,
        name=name,
        optional=OPTIONAL_JSON_KEYS,
        optional_columns=OPTIONAL_ROSTER_COLUMNS,
        separators={CHANNELS: ","},
    )
    source = name or str(path)
    countries = dict(station_countries)
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(rows) >= PARALLEL_MIN_ROWS and _CAN_FORK:
        size = -(-len(rows) // workers)
        chunks = [rows[start : start + size] for start in range(0, len(rows), size)]
        # Forked workers start at once with everything imported; they run only the pure
        # validation below, never touching the database connections of the parent.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
            outcomes = list(pool.map(validate_people, chunks, repeat(source), repeat(countries)))
    else:
        outcomes = [validate_people(rows, source, countries)]
    records = [record for chunk_records, _ in outcomes for record in chunk_records]
    problems = [problem for _, chunk_problems in outcomes for problem in chunk_problems]
    unique = _without_duplicates(records, source, problems)
    if problems:
        raise RosterError(sorted(problems, key=lambda problem: problem.line))
    return unique


def validate_people(
    rows: Sequence[Row], source: str, station_countries: Mapping[str, str]
) -> tuple[list[PersonRecord], list[RowProblem]]:
    """Validate roster rows one by one: the valid records and the problems of the others."""
    problems: list[RowProblem] = []
    records = [
        record
        for row in rows
        if (record := _person(row, source, station_countries, problems)) is not None
    ]
    return records, problems


def _without_duplicates(
    records: list[PersonRecord], source: str, problems: list[RowProblem]
) -> list[PersonRecord]:
    first_line: dict[str, int] = {}
    unique: list[PersonRecord] = []
    for record in records:
        if record.person_id in first_line:
            reason = f"duplicate of line {first_line[record.person_id]}"
            problems.append(RowProblem(source, record.line, "person_id", reason))
            continue
        first_line[record.person_id] = record.line
        unique.append(record)
    return unique


def _person(
    row: Row, source: str, station_countries: Mapping[str, str], problems: list[RowProblem]
) -> PersonRecord | None:
    fields = _Fields(row, source, problems)
    person_id = fields.take("person_id", _person_id)
    name = fields.take("name", _required_name)
    station = fields.take("station", lambda value: _known_station(value, station_countries))
    country = station_countries.get(station) if station else None
    email = fields.take("email", _email)
    phone = fields.take("phone", lambda value: _phone(value, country, station is not None))
    language = fields.take("language", _language)
    groups = fields.take("groups", _groups)
    channels_given = CHANNELS in row.values
    channels = fields.take(CHANNELS, _channels) if channels_given else ()
    if fields.ok and email is None and phone is None:
        fields.problem("phone", "a phone or an e-mail address is required (both are empty)")
    if fields.ok and channels and (unreachable := _unreachable(channels, email, phone)):
        fields.problem(CHANNELS, unreachable)
    if not fields.ok:
        return None
    assert person_id and name and station and language is not None and groups is not None
    assert channels is not None
    return PersonRecord(
        person_id,
        name,
        email,
        phone,
        station,
        language,
        groups,
        row.line,
        channels=channels,
        channels_given=channels_given,
    )


class _Fields:
    """Takes a row's values one column at a time, collecting the problems."""

    def __init__(self, row: Row, source: str, problems: list[RowProblem]) -> None:
        self.row, self.source, self.problems = row, source, problems
        self.ok = True

    def take(self, column: str, check: Callable[[str], _T]) -> _T | None:
        try:
            return check(self.row.values[column].strip())
        except _InvalidValueError as error:
            self.problem(column, str(error))
            return None

    def problem(self, column: str, reason: str) -> None:
        self.ok = False
        self.problems.append(RowProblem(self.source, self.row.line, column, reason))


def _required_name(value: str) -> str:
    if not value:
        raise _InvalidValueError("required")
    if len(value) > MAX_NAME_LENGTH:
        raise _InvalidValueError(f"longer than {MAX_NAME_LENGTH} characters")
    return value


def _person_id(value: str) -> str:
    if not value:
        raise _InvalidValueError("required")
    if len(value) > MAX_PERSON_ID_LENGTH or any(character.isspace() for character in value):
        raise _InvalidValueError(
            f"must be at most {MAX_PERSON_ID_LENGTH} characters without spaces"
        )
    return value


def _station_code(value: str) -> str:
    if not _STATION_CODE.fullmatch(value):
        raise _InvalidValueError(f"{value!r} is not 2 to 8 upper-case letters or digits")
    return value


def _country(value: str) -> str:
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise _InvalidValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value.upper()


def _timezone(value: str) -> str:
    if value not in _time_zones():
        raise _InvalidValueError(f"{value!r} is not an IANA time zone (such as Africa/Nairobi)")
    return value


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _coordinate(limit: int) -> Callable[[str], float | None]:
    def check(value: str) -> float | None:
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            raise _InvalidValueError(f"{value!r} is not a number") from None
        if not -limit <= number <= limit:
            raise _InvalidValueError(f"{value} is outside -{limit}..{limit}")
        return number

    return check


def _known_station(value: str, station_countries: Mapping[str, str]) -> str:
    if not value:
        raise _InvalidValueError("required")
    code = value.upper()
    if code not in station_countries:
        raise _InvalidValueError(
            f"unknown station {value!r}; import it with `notifier stations import` first"
        )
    return code


def _email(value: str) -> str | None:
    if not value:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise _InvalidValueError(f"{value!r} is not a valid e-mail address: {error}") from None


def _phone(value: str, country: str | None, station_known: bool) -> str | None:
    if not value:
        return None
    if country is None and not value.startswith("+"):
        if station_known:
            raise _InvalidValueError(f"{value!r} cannot be read without its station's country")
        raise _InvalidValueError(
            f"{value!r} is national; it needs a known station or the form +<country><number>"
        )
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        raise _InvalidValueError(f"{value!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        where = f" in {country}" if country and not value.startswith("+") else ""
        raise _InvalidValueError(f"{value!r} is not a valid phone number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _language(value: str) -> Language:
    if not value:
        return Language.EN
    try:
        return Language(value.lower())
    except ValueError:
        raise _InvalidValueError(f"unknown language {value!r}; one of {_LANGUAGES}") from None


def _channels(value: str) -> tuple[Channel, ...]:
    channels: list[Channel] = []
    for part in value.split(","):
        name = part.strip().lower()
        if not name:
            continue
        try:
            channel = Channel(name)
        except ValueError:
            raise _InvalidValueError(
                f"unknown channel {part.strip()!r}; one of {_CHANNEL_NAMES}"
            ) from None
        if channel in channels:
            raise _InvalidValueError(f"{channel.value} is given twice")
        channels.append(channel)
    return tuple(channels)


def _unreachable(channels: Sequence[Channel], email: str | None, phone: str | None) -> str:
    """Why none of the channels reaches the person, or "" when one of them does."""
    if any((phone if channel in _NEEDS_PHONE else email) for channel in channels):
        return ""
    names = " and ".join(channel.value for channel in channels)
    verb = "needs" if len(channels) == 1 else "need"
    contact = "a phone number" if phone is None else "an e-mail address"
    return f"{names} {verb} {contact}; this person has none"


def _groups(value: str) -> tuple[str, ...]:
    names: list[str] = []
    for part in value.split(";"):
        name = part.strip().lower()
        if not name:
            continue
        if not _GROUP_NAME.fullmatch(name):
            raise _InvalidValueError(f"group {part.strip()!r} must be letters, digits, '-' or '_'")
        if name not in names:
            names.append(name)
    return tuple(names)
