"""Benchmark: import a generated 50,000-person roster, against a bare loop of the raw libraries.

Run: `.venv/bin/python -m bench.roster_import [--people N] [--postgres URL]`
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import phonenumbers
from email_validator import validate_email

from notifier.roster_import import import_roster, import_stations
from notifier.store import schema
from notifier.store.engine import Database
from tests.postgres import throwaway_schema

CONTACTS = Path(__file__).parent.parent / "contacts"
LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")
# station → national mobile prefix; seven digits follow it (valid numbers for phonenumbers)
MOBILE_PREFIX = {"NBO": "072", "GVA": "079", "BKK": "081", "SCL": "96"}


def generate_roster(path: Path, people: int, seed: int = 7) -> None:
    """Write a roster of `people` fictional people spread over four stations."""
    rng = random.Random(seed)
    stations = list(MOBILE_PREFIX)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["person_id", "name", "email", "phone", "station", "language", "groups"])
        for index in range(people):
            station = stations[index % len(stations)]
            phone = f"{MOBILE_PREFIX[station]}{index:07d}"
            groups = "wardens" if index % 25 == 0 else ""
            writer.writerow(
                [
                    f"B{index:06d}",
                    f"Person {index}",
                    f"person.{index}@example.org",
                    phone,
                    station,
                    rng.choice(LANGUAGES),
                    groups,
                ]
            )


async def time_notifier(url: str, roster: Path) -> tuple[float, float]:
    """Seconds for the first import of the roster, and for re-importing it unchanged."""
    if url.startswith("postgresql"):
        async with throwaway_schema(url, "bench") as database:
            return await _time_imports(database, roster)
    async with Database.open(url) as database:
        return await _time_imports(database, roster)


async def _time_imports(database: Database, roster: Path) -> tuple[float, float]:
    await schema.upgrade(database)
    await import_stations(database, CONTACTS / "stations.csv", actor="bench")
    started = time.perf_counter()
    plan = await import_roster(database, roster, actor="bench")
    first = time.perf_counter() - started
    assert len(plan.added) > 0
    started = time.perf_counter()
    again = await import_roster(database, roster, actor="bench")
    second = time.perf_counter() - started
    assert again.is_empty
    return first, second


def time_raw_libraries(path: Path, roster: Path) -> float:
    """The same validation and insert with csv, phonenumbers, email-validator and sqlite3 alone."""
    countries = {"NBO": "KE", "GVA": "CH", "BKK": "TH", "SCL": "CL"}
    started = time.perf_counter()
    rows = []
    with roster.open(newline="", encoding="utf-8") as file:
        for record in csv.DictReader(file):
            number = phonenumbers.parse(record["phone"], countries[record["station"]])
            assert phonenumbers.is_valid_number(number)
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            email = validate_email(record["email"], check_deliverability=False).normalized
            rows.append(
                (
                    record["person_id"],
                    record["name"],
                    email,
                    phone,
                    record["station"],
                    record["language"],
                )
            )
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE person (id INTEGER PRIMARY KEY, person_id TEXT UNIQUE, name TEXT, email TEXT,"
        " phone TEXT, station_code TEXT, language TEXT)"
    )
    with connection:
        connection.executemany(
            "INSERT INTO person (person_id, name, email, phone, station_code, language)"
            " VALUES (?,?,?,?,?,?)",
            rows,
        )
    connection.close()
    return time.perf_counter() - started


def main() -> None:
    """Generate the roster, time both ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--postgres", metavar="URL", help="also time a PostgreSQL database at URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        roster = folder / "roster.csv"
        generate_roster(roster, args.people)
        sqlite_url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        first, second = asyncio.run(time_notifier(sqlite_url, roster))
        raw = time_raw_libraries(folder / "raw.db", roster)
        print(f"people: {args.people}")
        rate = args.people / first
        print(f"notifier roster import, SQLite, first import: {first:.2f} s ({rate:,.0f} people/s)")
        print(f"notifier roster import, SQLite, unchanged re-import: {second:.2f} s")
        print(f"raw libraries (csv + phonenumbers + email-validator + sqlite3): {raw:.2f} s")
        print(f"notifier / raw: {first / raw:.2f}x")
        if args.postgres:
            first_pg, second_pg = asyncio.run(time_notifier(args.postgres, roster))
            print(f"notifier roster import, PostgreSQL, first import: {first_pg:.2f} s")
            print(f"notifier roster import, PostgreSQL, unchanged re-import: {second_pg:.2f} s")


if __name__ == "__main__":
    main()
