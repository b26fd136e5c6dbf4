"""Benchmark: preview an alert to a generated 50,000-person roster, against one raw SQL count.

The preview (`notifier.alert_preview.preview_alert`: the checks of raising, the audience per
language and channel, the SMS per language and number prefix for pricing, the rendering) is
timed against a bare `SELECT count(*)` of the same audience on the same database, in the same
run, and against a bare count per language and number prefix (the least SQL that groups as the
preview must): the best of five of each, after one warm-up.

Run: `.venv/bin/python -m bench.preview [--people 50000] [--postgres URL]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bench.roster_import import CONTACTS, MOBILE_PREFIX, generate_roster
from notifier.access import Principal
from notifier.alert_preview import Preview, preview_alert
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.messages import SHIPPED_TEMPLATES, load_templates
from notifier.roster_import import import_roster, import_stations
from notifier.settings import load_settings
from notifier.store import schema
from notifier.store.engine import Database
from tests.postgres import throwaway_schema

RUNS = 5
STATIONS = tuple(MOBILE_PREFIX)
REQUEST = AlertRequest(
    title="Earthquake", message="Leave the building by the stairs.", stations=STATIONS
)
ADMIN = Principal("bench", Role.ADMIN)
PRICES = {
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICE": "0.05",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__KE": "0.0451",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__CH": "0.0788",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__TH": "0.0263",
    "NOTIFIER_COSTS__EMAIL_PRICE": "0.0003",
}
AUDIENCE = "FROM person WHERE active AND station_code IN ('NBO', 'GVA', 'BKK', 'SCL')"
RAW_COUNT = text(f"SELECT count(*) {AUDIENCE}")
RAW_GROUPED = text(f"SELECT language, substr(phone, 1, 4), count(*) {AUDIENCE} GROUP BY 1, 2")
"""The least SQL that counts people per language and calling code, for scale."""


@dataclass(frozen=True, slots=True)
class Figures:
    """Best seconds of the preview, of the raw count and of the raw grouped count."""

    preview: float
    count: float
    grouped: float
    found: Preview
    people: int


async def measure(url: str, roster: Path) -> Figures:
    """The figures on the database at `url`, loaded with the roster."""
    if url.startswith("postgresql"):
        async with throwaway_schema(url, "bench") as database:
            return await _measure(database, roster)
    async with Database.open(url) as database:
        return await _measure(database, roster)


async def _measure(database: Database, roster: Path) -> Figures:
    await schema.upgrade(database)
    await import_stations(database, CONTACTS / "stations.csv", actor="bench")
    await import_roster(database, roster, actor="bench")
    settings = load_settings(None, PRICES)
    templates = load_templates(SHIPPED_TEMPLATES)
    found: list[Preview] = []
    counted: list[int] = []

    async def preview() -> None:
        async with database.session(read_only=True) as session:
            found.append(await preview_alert(session, REQUEST, ADMIN, settings, templates))

    async def raw_count() -> None:
        async with database.engine.connect() as connection:
            counted.append(int((await connection.execute(RAW_COUNT)).scalar_one()))

    async def raw_grouped() -> None:
        async with database.engine.connect() as connection:
            (await connection.execute(RAW_GROUPED)).all()

    preview_seconds = await _best(preview)
    count_seconds = await _best(raw_count)
    grouped_seconds = await _best(raw_grouped)
    return Figures(preview_seconds, count_seconds, grouped_seconds, found[-1], counted[-1])


async def _best(run: Callable[[], Awaitable[None]]) -> float:
    await run()  # warm-up: connections, caches, the database's pages
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    """Generate the roster, time both ways on each database, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--postgres", metavar="URL", help="also time a PostgreSQL database at URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        roster = folder / "roster.csv"
        generate_roster(roster, args.people)
        targets = [("SQLite", f"sqlite+aiosqlite:///{folder / 'bench.db'}")]
        if args.postgres:
            targets.append(("PostgreSQL", args.postgres))
        print(f"people: {args.people}")
        for name, url in targets:
            figures = asyncio.run(measure(url, roster))
            found = figures.found
            assert found.recipients + found.unreachable == figures.people
            print(
                f"{name}: preview {figures.preview * 1000:.1f} ms, raw count "
                f"{figures.count * 1000:.1f} ms ({figures.preview / figures.count:.1f}x), raw "
                f"count per language and prefix {figures.grouped * 1000:.1f} ms; "
                f"{found.recipients} recipients, "
                f"{found.sms} SMS ({found.cost.sms_segments} segments), {found.email} e-mails, "
                f"{len(found.languages)} languages, {found.cost.currency} "
                f"{found.cost.total_micros / 1_000_000:.2f}"
            )


if __name__ == "__main__":
    main()
