"""Put stations and people into a test database through the real import path."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from notifier.roster_import import import_roster, import_stations
from notifier.store.engine import Database

STATIONS = (
    "code,name,country,timezone,latitude,longitude\n"
    "NBO,United Nations Office at Nairobi,KE,Africa/Nairobi,,\n"
    "GVA,United Nations Office at Geneva,CH,Europe/Zurich,,\n"
    "BEY,Economic and Social Commission for Western Asia,LB,Asia/Beirut,,\n"
    "BKK,Economic and Social Commission for Asia and the Pacific,TH,Asia/Bangkok,,\n"
)
HEADER = "person_id,name,email,phone,station,language,groups\n"


async def seed(database: Database, rows: Iterable[str]) -> None:
    """Import the test stations and a roster made of `rows` (CSV lines without the header)."""
    with tempfile.TemporaryDirectory() as directory:
        stations = Path(directory) / "stations.csv"
        stations.write_text(STATIONS, encoding="utf-8")
        roster = Path(directory) / "roster.csv"
        roster.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
        await import_stations(database, stations, actor="test")
        await import_roster(database, roster, actor="test")


def nairobi_people(count: int, *, start: int = 0, groups: str = "") -> list[str]:
    """`count` people at NBO with both a phone and an e-mail address."""
    return [
        f"N{index:05d},Person {index},n{index}@example.org,+25472{index:07d},NBO,en,{groups}"
        for index in range(start, start + count)
    ]
