"""Benchmark: the dispatcher's own CPU per delivery, with channels that answer at once.

What the daemon spends on a message besides the provider's client: materialising, claiming,
rendering, rate limiting, recording, on a real SQLite file, and with `--postgres URL` on a
database of its own on that server, there both through asyncpg directly (the daemon's path)
and through SQLAlchemy (`sending`'s Core statements, as on SQLite). An SMS-only alert to
`--people` people at one station is dispatched by a `Dispatcher` in this process through the
console channels, which accept each message at once (their log lines are below the level).
Prints the process's CPU time per delivery and the deliveries a second, from the alert's
creation until it is dispatched, and on PostgreSQL the CPU time per delivery of the server's
processes on this machine over the same time.

Run: `.venv/bin/python -m bench.dispatch_overhead [--people 20000] [--runs 3] [--profile]
[--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]`
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select

from bench.fan_out import postgres_cpu_seconds
from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.channels.console import ConsoleEmailChannel, ConsoleSmsChannel
from notifier.clock import SystemClock
from notifier.dispatch.dispatcher import Dispatcher, configured_lanes
from notifier.dispatch.rendering import MessageFactory
from notifier.domain import AlertStatus, Channel, Role
from notifier.logs import configure_logging
from notifier.messages import load_templates
from notifier.settings import load_settings
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.tables import ALERT
from tests.postgres import throwaway_database
from tests.seeding import nairobi_people, seed

TEMPLATES = Path(__file__).parent.parent / "config" / "templates"


class Figures(NamedTuple):
    """One run's CPU seconds per delivery, deliveries a second, and the CPU seconds per
    delivery of the PostgreSQL server's processes (0 on SQLite)."""

    cpu_per_delivery: float
    per_second: float
    server_per_delivery: float


async def one_run(
    url: str, people: int, profile: cProfile.Profile | None, *, direct: bool
) -> Figures:
    """Dispatch one SMS alert to `people` people on the database at `url` (empty)."""
    settings = load_settings(
        None,
        {
            "NOTIFIER_SECURITY__SECRET_KEY": "bench-secret-key-0123456789",
            "NOTIFIER_SMS__RATE_PER_SECOND": "100000",
            "NOTIFIER_SMS__CONCURRENCY": "16",
            "NOTIFIER_LOGGING__LEVEL": "warning",
        },
    )
    configure_logging(settings.logging)
    async with Database.open(url) as database:
        if not direct:
            database.direct = None  # SQLAlchemy's path, as with psycopg
        await schema.upgrade(database)
        await seed(database, nairobi_people(people))
        dispatcher = Dispatcher(
            database,
            configured_lanes(settings, email=ConsoleEmailChannel(), sms=ConsoleSmsChannel()),
            MessageFactory(load_templates(TEMPLATES), settings),
            settings.dispatch,
            SystemClock(),
            "bench",
        )
        stopping = asyncio.Event()
        running = asyncio.create_task(dispatcher.run(stopping, 5.0))
        request = AlertRequest(
            title="Earthquake",
            message="Leave the building by the stairs.",
            stations=("NBO",),
            channels=(Channel.SMS,),
        )
        on_server = url.startswith("postgresql")
        server_before = postgres_cpu_seconds() if on_server else 0.0
        started, began = time.process_time(), time.monotonic()
        if profile is not None:
            profile.enable()
        async with database.session() as session:
            alert = await alerts.create_alert(session, request, Principal("bench", Role.ADMIN))
        dispatcher.wake()
        await _until_dispatched(database, alert.id)
        if profile is not None:
            profile.disable()
        used, took = time.process_time() - started, time.monotonic() - began
        server = postgres_cpu_seconds() - server_before if on_server else 0.0
        stopping.set()
        await running
    return Figures(used / people, people / took, server / people)


async def _until_dispatched(database: Database, alert_id: int | None) -> None:
    query = select(ALERT.c.status).where(ALERT.c.id == alert_id)
    for _ in range(20 * 600):  # read every 50 ms, for ten minutes at most
        async with database.session(read_only=True) as session:
            status = (await session.execute(query)).scalar_one()
        if status != AlertStatus.DISPATCHING.value:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"alert {alert_id} still dispatching after ten minutes")


async def main() -> None:
    """Run the measurement `--runs` times on each database and print each figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the last run")
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL database")
    args = parser.parse_args()
    paths = [("SQLite", None, True)]
    if args.postgres:
        paths += [("PostgreSQL, asyncpg", args.postgres, True)]
        paths += [("PostgreSQL, SQLAlchemy", args.postgres, False)]
    for run in range(args.runs):
        for name, database, direct in paths:
            last = run == args.runs - 1
            profile = cProfile.Profile() if args.profile and last else None
            if database is None:
                with tempfile.TemporaryDirectory() as folder:
                    url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                    figures = await one_run(url, args.people, profile, direct=direct)
            else:
                async with throwaway_database(database, "bench_dispatch") as url:
                    figures = await one_run(url, args.people, profile, direct=direct)
            server = figures.server_per_delivery * 1e6 if database is not None else None
            print(
                f"{name}: {args.people} deliveries: {figures.cpu_per_delivery * 1e6:.0f} µs of"
                f" CPU a delivery, {figures.per_second:,.0f} a second"
                + (f"; PostgreSQL's own {server:.0f} µs a delivery" if server is not None else "")
            )
            if profile is not None:
                pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
