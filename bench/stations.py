"""Benchmark: `GET /api/v1/stations` (every station with its readiness level) over a year of drills.

`--stations` stations (100) of `--people` people each (50), each with a monthly drill
schedule, a focal point and twelve monthly drills over the last year, inserted straight into
the tables (alerts, recipients with answers spread over twenty minutes, 2 % needing help and a
focal points' list after them). Timed: the route through the real app, in-process, as an
admin; and one station's readiness report (JSON), for comparison.

Run: `.venv/bin/python -m bench.stations [--stations 100] [--people 50] [--postgres URL]`
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from notifier.domain import Role
from notifier.readiness import add_months
from notifier.store import schema, tokens
from notifier.store.engine import Database
from notifier.store.tables import (
    ALERT,
    DELIVERY,
    PERSON,
    PERSON_GROUP,
    RECIPIENT,
    STATION,
    DrillSchedule,
    metadata,
)
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.postgres import throwaway_schema

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DRILL = metadata.tables[DrillSchedule.__tablename__]
BATCH = 5000
RUNS = 5


async def prepare(database: Database, stations: int, people: int) -> str:
    """The stations, people, schedules and a year of drills; an admin token."""
    await schema.upgrade(database)
    rng = random.Random(7)
    codes = [f"S{index:03d}" for index in range(stations)]
    async with database.session() as session:
        await session.execute(
            insert(STATION),
            [
                {"code": c, "name": f"Station {c}", "country": "KE", "timezone": "Africa/Nairobi",
                 "created_at": NOW, "updated_at": NOW}
                for c in codes
            ],
        )  # fmt: skip
        rows = [
            {
                "person_id": f"{code}-{index:04d}", "name": f"Person {index}",
                "email": f"{code}.{index}@example.org", "phone": f"+2547{n:08d}",
                "station_code": code, "language": "en", "active": True, "sms_opted_out": False,
                "created_at": NOW, "updated_at": NOW,
            }
            for n, (code, index) in enumerate((c, i) for c in codes for i in range(people))
        ]  # fmt: skip
        for start in range(0, len(rows), BATCH):
            await session.execute(insert(PERSON), rows[start : start + BATCH])
        ids = dict((await session.execute(select(PERSON.c.person_id, PERSON.c.id))).all())
        await session.execute(
            insert(PERSON_GROUP),
            [{"person": ids[f"{code}-0000"], "name": "security-focal-points"} for code in codes],
        )
        await session.execute(
            insert(DRILL),
            [
                {"name": f"monthly-{code}", "stations": [code], "groups": [], "channels": [],
                 "cron": "0 10 15 * *", "timezone": "Africa/Nairobi", "paused": False,
                 "created_at": NOW, "created_by": "bench", "updated_at": NOW, "missed": 0}
                for code in codes
            ],
        )  # fmt: skip
        await _drills(session, codes, people, ids, rng)
        return await tokens.create_token(session, "admin", Role.ADMIN, [], actor="bench")


async def _drills(
    session: Any, codes: list[str], people: int, ids: dict[str, int], rng: random.Random
) -> None:
    alert_id = 0
    recipients: list[dict[str, Any]] = []
    lists: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for code in codes:
        for back in range(12, 0, -1):
            alert_id += 1
            created = add_months(NOW, -back) + timedelta(days=14)
            alerts.append(
                {"id": alert_id, "code": f"{alert_id:04X}", "kind": "drill", "severity": "minor",
                 "title": "Drill", "message": "This is a drill.", "messages": {},
                 "audience": {"stations": [code], "groups": [], "people": [], "scope": [code]},
                 "channels": ["sms", "email"], "status": "closed", "created_by": "bench",
                 "recipients": people, "created_at": created}
            )  # fmt: skip
            for index in range(people):
                answered = created + timedelta(seconds=rng.expovariate(1 / 300) % 1200)
                responded = rng.random() < 0.93
                helped = responded and rng.random() < 0.02
                recipients.append(
                    {"alert_id": alert_id, "person": ids[f"{code}-{index:04d}"],
                     "station_code": code,
                     "response": ("help" if helped else "safe") if responded else None,
                     "first_response_at": answered if responded else None,
                     "last_response_at": answered if responded else None, "escalations": 0}
                )  # fmt: skip
            sent = created + timedelta(minutes=25)
            lists.append(
                {"alert_id": alert_id, "person": ids[f"{code}-0000"], "channel": "email",
                 "purpose": "escalation", "round": 1, "status": "sent", "priority": 2,
                 "attempts": 1, "next_attempt_at": sent, "created_at": sent, "sent_at": sent,
                 "cost_micros": 1000}
            )  # fmt: skip
    await session.execute(insert(ALERT), alerts)
    for start in range(0, len(recipients), BATCH):
        await session.execute(insert(RECIPIENT), recipients[start : start + BATCH])
    await session.execute(insert(DELIVERY), lists)


async def time_routes(database: Database, token: str) -> tuple[float, float, int]:
    """The median seconds of the list and of one station's readiness; stations listed."""
    app = create_app(database, clock=HandClock(NOW))
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        listed, one = [], []
        count = 0
        for _ in range(RUNS):
            started = time.perf_counter()
            response = await client.get("/api/v1/stations", headers=headers)
            listed.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            count = len(response.json())
            started = time.perf_counter()
            response = await client.get("/api/v1/stations/S000/readiness", headers=headers)
            one.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return statistics.median(listed), statistics.median(one), count


async def run(url: str, stations: int, people: int) -> tuple[float, float, int]:
    """Prepare a database at `url` (a schema of its own on PostgreSQL) and time the routes."""
    if url.startswith("postgresql"):
        async with throwaway_schema(url, "bench") as database:
            return await time_routes(database, await prepare(database, stations, people))
    async with Database.open(url) as database:
        return await time_routes(database, await prepare(database, stations, people))


def main() -> None:
    """Time the routes on SQLite, and on PostgreSQL if given; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--postgres", metavar="URL", help="also time a PostgreSQL database at URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        targets = [("SQLite", f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")]
        if args.postgres:
            targets.append(("PostgreSQL", args.postgres))
        print(f"stations: {args.stations}, people each: {args.people}, 12 drills each")
        for name, url in targets:
            listed, one, count = asyncio.run(run(url, args.stations, args.people))
            print(
                f"{name}: GET /api/v1/stations ({count} stations) {listed * 1000:.0f} ms, "
                f"GET /api/v1/stations/S000/readiness {one * 1000:.0f} ms (medians of {RUNS})"
            )


if __name__ == "__main__":
    main()
