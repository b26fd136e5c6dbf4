"""Benchmark: the dispatcher's own CPU per delivery, with channels that answer at once.

What the daemon spends on a message besides the provider's client: materialising, claiming,
rendering, rate limiting, recording, on a real SQLite file. An SMS-only alert to `--people`
people at one station is dispatched by a `Dispatcher` in this process through the console
channels, which accept each message at once (their log lines are below the level). Prints
the process's CPU time per delivery, from the alert's creation until it is dispatched.

Run: `.venv/bin/python -m bench.dispatch_overhead [--people 20000] [--runs 3] [--profile]`
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

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
from tests.seeding import nairobi_people, seed

TEMPLATES = Path(__file__).parent.parent / "config" / "templates"


async def one_run(people: int, profile: cProfile.Profile | None) -> float:
    """Dispatch one SMS alert to `people` people; the CPU seconds per delivery."""
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
    with tempfile.TemporaryDirectory() as folder:
        async with Database.open(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}") as database:
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
            started = time.process_time()
            if profile is not None:
                profile.enable()
            async with database.session() as session:
                alert = await alerts.create_alert(session, request, Principal("bench", Role.ADMIN))
            dispatcher.wake()
            await _until_dispatched(database, alert.id)
            if profile is not None:
                profile.disable()
            used = time.process_time() - started
            stopping.set()
            await running
    return used / people


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
    """Run the measurement `--runs` times and print each figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the last run")
    args = parser.parse_args()
    for run in range(args.runs):
        profile = cProfile.Profile() if args.profile and run == args.runs - 1 else None
        per_delivery = await one_run(args.people, profile)
        print(f"{args.people} deliveries: {per_delivery * 1e6:.0f} µs of CPU a delivery")
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
