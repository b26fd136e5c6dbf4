"""Benchmark: an emergency raised while a large drill is being sent.

Against one `notifier serve` per database, or `--replicas` of them on PostgreSQL (the
loopback sinks and the roster of `bench.fan_out`, four stations): a drill by SMS to three
stations (`--drill` people), then, once it is sending at full pace, an emergency by SMS to
the fourth. Figures, from the
deliveries' `sent_at` (when the provider accepted each message): the emergency's first and
last message after its POST answered, and the drill's messages accepted meanwhile, against
its pace before the emergency.

Run: `.venv/bin/python -m bench.emergency [--drill 50000] [--postgres URL [--no-sqlite]
[--replicas N]] [--logs DIR]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.fan_out import daemons, free_port, prepare, start_sinks
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY
from tests.postgres import throwaway_database

DRILL_STATIONS = ["NBO", "GVA", "BKK"]
EMERGENCY_STATIONS = ["SCL"]
SENDING_BEFORE_SECONDS = 5.0
"""How long the drill sends alone before the emergency is raised."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One database's run."""

    name: str
    drill: int
    emergency: int
    first_after: float
    last_after: float
    drill_meanwhile: int
    meanwhile_until: float
    """How long after the emergency's first message the last of those drill messages came:
    tens of milliseconds for sends that were under way when it was raised."""
    drill_pace_before: float


async def post_alert(client: httpx.AsyncClient, stations: list[str], kind: str) -> int:
    """Raise an SMS alert; its id."""
    body = {
        "title": "Earthquake" if kind == "emergency" else "Monthly drill",
        "message": "Leave the building by the stairs.",
        "stations": stations,
        "channels": ["sms"],
        "kind": kind,
    }
    answer = await client.post("/api/v1/alerts", json=body)
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


async def until_dispatched(client: httpx.AsyncClient, alert_id: int) -> None:
    """Poll the alert's view until it is no longer dispatching (ten minutes at most)."""
    for _ in range(1200):
        if (await client.get(f"/api/v1/alerts/{alert_id}")).json()["status"] != "dispatching":
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"alert {alert_id} still dispatching after ten minutes")


async def sent_times(url: str, alert_id: int) -> list[datetime]:
    """When each of the alert's messages was accepted, in order."""
    query = select(DELIVERY.c.sent_at).where(
        DELIVERY.c.alert_id == alert_id, DELIVERY.c.sent_at.is_not(None)
    )
    async with Database.open(url) as database, database.session(read_only=True) as session:
        return sorted((await session.execute(query)).scalars())


async def measure(
    name: str, url: str, drill_people: int, folder: Path, replicas: int = 1
) -> Figures:
    """Prepare the roster, start the daemons, raise the drill then the emergency."""
    people = drill_people * 4 // 3
    token = await prepare(url, people, folder)
    smtp, twilio = start_sinks()
    ports = [free_port() for _ in range(replicas)]
    try:
        async with (
            daemons(url, smtp, twilio, ports, folder / f"{name}.log"),
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{ports[0]}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as client,
        ):
            drill = await post_alert(client, DRILL_STATIONS, "drill")
            await asyncio.sleep(SENDING_BEFORE_SECONDS)
            emergency = await post_alert(client, EMERGENCY_STATIONS, "emergency")
            answered = datetime.fromtimestamp(time.time()).astimezone()
            await until_dispatched(client, emergency)
            await until_dispatched(client, drill)
    finally:
        smtp.stop()
        twilio.stop()
    drill_times = await sent_times(url, drill)
    urgent = await sent_times(url, emergency)
    first, last = urgent[0], urgent[-1]
    before = [moment for moment in drill_times if moment < answered]
    span = (before[-1] - before[0]).total_seconds() if len(before) > 1 else 0.0
    meanwhile = [moment for moment in drill_times if first <= moment <= last]
    return Figures(
        name,
        len(drill_times),
        len(urgent),
        (first - answered).total_seconds(),
        (last - answered).total_seconds(),
        len(meanwhile),
        (meanwhile[-1] - first).total_seconds() if meanwhile else 0.0,
        len(before) / span if span else 0.0,
    )


def report(figures: Figures) -> None:
    """Print one database's figures."""
    print(f"\n{figures.name}: drill to {figures.drill:,}, emergency to {figures.emergency:,}")
    print(f"  emergency's first SMS accepted {figures.first_after * 1000:.0f} ms after its POST")
    print(f"  emergency's last SMS accepted {figures.last_after:.1f} s after its POST")
    print(
        f"  drill SMS accepted between the emergency's first and last: "
        f"{figures.drill_meanwhile:,} (its pace before: {figures.drill_pace_before:.0f}/s)"
    )
    if figures.drill_meanwhile:
        print(
            f"  the last of them {figures.meanwhile_until * 1000:.0f} ms after the emergency's "
            "first (sends under way when it was raised take tens of milliseconds)"
        )


async def main() -> None:
    """Measure SQLite, then PostgreSQL if given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--drill", type=int, default=50_000, help="people the drill goes to")
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true", help="measure only PostgreSQL")
    parser.add_argument(
        "--replicas", type=int, default=1, help="daemons on the PostgreSQL database"
    )
    parser.add_argument("--logs", type=Path, help="keep the daemons' logs in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            folder = args.logs
        if not args.no_sqlite:
            url = f"sqlite+aiosqlite:///{folder / 'emergency.db'}"
            report(await measure("SQLite", url, args.drill, folder))
        if args.postgres:
            async with throwaway_database(args.postgres, "bench_emergency") as url:
                name = "PostgreSQL" + (f", {args.replicas} replicas" if args.replicas > 1 else "")
                report(await measure(name, url, args.drill, folder, args.replicas))


if __name__ == "__main__":
    asyncio.run(main())
