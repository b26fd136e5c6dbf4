"""Stations around the areas of the CAP specification's examples, and people at them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from notifier.roster_import import import_roster, import_stations
from notifier.settings import Settings
from notifier.store.engine import Database

EXAMPLES = Path(__file__).parent / "cap" / "examples"
STATIONS = (
    "code,name,country,timezone,latitude,longitude\n"
    "NBO,United Nations Office at Nairobi,KE,Africa/Nairobi,-1.2921,36.8219\n"
    "GVA,United Nations Office at Geneva,CH,Europe/Zurich,46.2044,6.1432\n"
    "ALPINE,Alpine County field office,US,America/Los_Angeles,38.49,-119.93\n"  # in A.2's polygon
    "SAC,Sacramento,US,America/Los_Angeles,38.58,-121.49\n"  # outside it
    "SONORA,Sonora,US,America/Los_Angeles,,\n"  # Tuolumne County: SAME 006109 (A.2)
    "QUAKE,Brawley quarry,US,America/Los_Angeles,32.9525,-115.5527\n"  # A.3's epicentre
    "BRAWLEY,Brawley,US,America/Los_Angeles,32.9787,-115.5303\n"  # 3.5 km from it
    "LAX,Los Angeles,US,America/Los_Angeles,34.05,-118.24\n"  # SAME 006037 (A.4)
    "DC,Washington,US,America/New_York,38.90,-77.04\n"  # A.1 draws no area
)
ROSTER = (
    "person_id,name,email,phone,station,language,groups\n"
    "N1,Amani Njoroge,n1@example.org,+254722000111,NBO,en,\n"
    "N2,Wanjiru Kamau,n2@example.org,,NBO,en,\n"
    "G1,Hélène Dubois,g1@example.org,,GVA,fr,\n"
    "A1,Alpine Warden,a1@example.org,,ALPINE,en,\n"
    "S1,Sonora Warden,s1@example.org,,SONORA,es,\n"
    "Q1,Quarry Warden,q1@example.org,,QUAKE,en,\n"
    "L1,Lucía Fernández,l1@example.org,,LAX,es,\n"
)
EXPECTED = {
    "ThunderstormWarning": ["ALPINE", "SONORA"],
    "EarthquakeReport": ["QUAKE"],
    "AmberAlert": ["LAX"],
}
"""The stations each example's areas hold (A.1, the homeland advisory, draws none)."""
SETTINGS = Settings.model_validate(
    {
        "cap": {
            "sender": "ens@example.org",
            "geocodes": {"SAME": {"006109": ["SONORA"], "006037": ["LAX"]}},
        }
    }
)


def example(name: str) -> bytes:
    """One of the specification's example messages, as published."""
    return (EXAMPLES / f"{name}.xml").read_bytes()


async def seed_cap_world(database: Database) -> None:
    """Import the stations and people above through the real import path."""
    with tempfile.TemporaryDirectory() as directory:
        stations, roster = Path(directory) / "stations.csv", Path(directory) / "roster.csv"
        stations.write_text(STATIONS, encoding="utf-8")
        roster.write_text(ROSTER, encoding="utf-8")
        await import_stations(database, stations, actor="test")
        await import_roster(database, roster, actor="test")
