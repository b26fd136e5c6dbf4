"""Benchmark: one, two and three replicas on PostgreSQL sending one alert, the provider slow.

The Twilio-compatible sink answers each message after `--provider-ms` (200 ms, as real
providers take), so throughput is set by how many sends are under way, not by CPU: each
replica has `sms.concurrency` 64. For each count of replicas, on a database of its own: the
roster (`--people`, four stations), the replicas started, an SMS alert raised through the
first, and the sink's rate from its first message to its last. The raw twilio SDK, with as
many sends under way as the replicas together, against the same sink in the same run, is
the ceiling. Also printed: each replica's share and CPU seconds.

Run: `.venv/bin/python -m bench.replicas --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
[--people 10000] [--replicas 1,2,3] [--provider-ms 200]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bench.fan_out import (
    cpu_seconds,
    daemon,
    environment,
    free_port,
    prepare,
    raise_and_wait,
    raw_loop,
    start_sink,
    twilio_sink,
)
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY
from tests.postgres import throwaway_database

CONCURRENCY = 64
STATIONS = ["NBO", "GVA", "BKK", "SCL"]


@dataclass(frozen=True, slots=True)
class Run:
    """One count of replicas: the sink's rate, and each replica's share and CPU."""

    replicas: int
    rate: float
    seconds: float
    shares: list[int]
    cpu: list[float]
    raw_rate: float


async def shares(url: str) -> list[int]:
    """Messages sent by each replica (a sent delivery keeps its sender's lease name), most first."""
    async with Database.open(url) as database, database.session(read_only=True) as session:
        rows = await session.execute(
            select(DELIVERY.c.leased_by, func.count())
            .where(DELIVERY.c.status == "sent")
            .group_by(DELIVERY.c.leased_by)
        )
        counted = Counter({row[0]: row[1] for row in rows})
    return sorted(counted.values(), reverse=True)


async def measure(postgres: str, replicas: int, args: argparse.Namespace, folder: Path) -> Run:
    """`replicas` daemons on a fresh database, then the raw SDK with as many sends under way."""
    async with throwaway_database(postgres, f"bench_replicas_{replicas}") as url:
        token = await prepare(url, args.people, folder)
        smtp, twilio = start_sink("tests.fakes.smtp_server"), twilio_sink(args.provider_ms)
        ports = [free_port() for _ in range(replicas)]
        cpu: list[float] = []
        try:
            async with AsyncExitStack() as stack:
                processes = []
                for index, port in enumerate(ports):
                    env = environment(
                        url, smtp, twilio, port, NOTIFIER_SMS__CONCURRENCY=str(CONCURRENCY)
                    )
                    log = folder / f"replicas-{replicas}-{index}.log"
                    processes.append(await stack.enter_async_context(daemon(env, log)))
                before = [cpu_seconds(process.pid) for process in processes]
                await raise_and_wait(str(ports[0]), token, STATIONS, ("sms",))
                cpu = [cpu_seconds(p.pid) - b for p, b in zip(processes, before, strict=True)]
        finally:
            smtp.stop()
            twilio.stop()
        sent_by = await shares(url)
        raw = twilio_sink(args.provider_ms)
        raw_smtp = start_sink("tests.fakes.smtp_server")
        try:
            await raw_loop(url, raw_smtp, raw, ("sms",), concurrency=replicas * CONCURRENCY)
        finally:
            raw.stop()
            raw_smtp.stop()
    return Run(replicas, twilio.rate, twilio.last - twilio.first, sent_by, cpu, raw.rate)


def report(run: Run, one: Run | None) -> None:
    """Print one count of replicas' figures."""
    versus = f", {run.rate / one.rate:.2f} × one replica" if one and one is not run else ""
    print(
        f"{run.replicas} replica(s): {run.rate:.0f} SMS/s, all in {run.seconds:.1f} s{versus}; "
        f"raw SDK with {run.replicas * CONCURRENCY} under way: {run.raw_rate:.0f}/s "
        f"(daemons / raw {run.rate / run.raw_rate:.0%})"
    )
    print(
        f"  sent by each: {', '.join(str(count) for count in run.shares)}; CPU seconds each: "
        f"{', '.join(f'{seconds:.1f}' for seconds in run.cpu)}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", metavar="URL", required=True)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--replicas", default="1,2,3", help="the counts of replicas to run")
    parser.add_argument("--provider-ms", type=int, default=200)
    args = parser.parse_args()
    counts = [int(count) for count in args.replicas.split(",")]
    print(
        f"{args.people} people by SMS, the provider answering in {args.provider_ms} ms, "
        f"sms.concurrency {CONCURRENCY} per replica"
    )
    one: Run | None = None
    with tempfile.TemporaryDirectory() as directory:
        for count in counts:
            run = await measure(args.postgres, count, args, Path(directory))
            one = one or (run if count == 1 else None)
            report(run, one)


if __name__ == "__main__":
    asyncio.run(main())
