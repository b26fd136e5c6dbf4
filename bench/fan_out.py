"""Benchmark: a 10,000-person alert through the daemon, against a bare loop of the raw libraries.

Both run against the same loopback sinks, each in a process of its own: an SMTP server
(aiosmtpd) and a Twilio-compatible REST server. Figures: time from the POST's answer to the
first message at each sink, time until all are sent, throughput per channel; the raw loop
sends the same rendered messages with aiosmtplib (the same pool size) and the twilio SDK
(the same concurrency), then the SMS once more through the daemon's own HTTP client under the
SDK (`notifier.channels.twilio_http`), to show what that client accounts for. A last run
measures the daemon's peak memory on a 100,000-person alert with the console channels (the
network clients' own buffers aside).

With `--postgres URL`, the daemon and the raw loop use databases of their own on that
PostgreSQL server (created and dropped) instead of SQLite files.

Run: `.venv/bin/python -m bench.fan_out [--people 10000] [--memory-people 100000] [--channels sms]
[--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]`
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import httpx
from sqlalchemy import select
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bench.roster_import import CONTACTS, generate_roster
from notifier.channels.base import OutgoingEmail, OutgoingSms
from notifier.channels.configured import STATUS_CALLBACK_PATH
from notifier.channels.email import build_email
from notifier.channels.twilio_http import TwilioHttpClient
from notifier.dispatch.rendering import Addressee, AlertToSend, MessageFactory
from notifier.domain import AlertKind, Language, Role, Severity
from notifier.messages import AlertContent, load_templates
from notifier.roster_import import import_roster, import_stations
from notifier.settings import load_settings
from notifier.store import schema, tokens
from notifier.store.engine import Database
from notifier.store.tables import PERSON
from tests.postgres import throwaway_database

REPOSITORY = Path(__file__).parent.parent
SID, TOKEN = "AC" + "3" * 32, "bench-auth-token"
POOL_SIZE, SMS_CONCURRENCY = 8, 16
TITLE, MESSAGE = "Earthquake", "Leave the building by the stairs."
STATUS_CALLBACK = "http://127.0.0.1:8080" + STATUS_CALLBACK_PATH


@dataclass
class Sink:
    """A sink process and what it reported when stopped."""

    process: subprocess.Popen[str]
    port: int
    received: int = 0
    first: float = 0.0
    last: float = 0.0

    def stop(self) -> None:
        """Stop the sink and read its count and first/last message times."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        fields = out.split()
        self.received = int(fields[fields.index("received") + 1])
        first, last = fields[fields.index("first") + 1], fields[fields.index("last") + 1]
        self.first = float(first) if first != "None" else 0.0
        self.last = float(last) if last != "None" else 0.0

    @property
    def rate(self) -> float:
        """Messages a second between the first and the last."""
        return self.received / (self.last - self.first) if self.last > self.first else 0.0


def start_sink(module: str, *args: str) -> Sink:
    """Start `python -m module --port 0 …` and wait for its `ready PORT` line."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    assert line and line[0] == "ready", f"{module} did not start"
    return Sink(process, int(line[1]))


def start_sinks(provider_ms: int = 0, relay_ms: int = 0) -> tuple[Sink, Sink]:
    """An SMTP sink (answering each message after `relay_ms`) and a Twilio-compatible sink
    (after `provider_ms`), fresh."""
    delay = ["--delay", str(relay_ms / 1000)] if relay_ms else []
    return start_sink("tests.fakes.smtp_server", *delay), twilio_sink(provider_ms)


def twilio_sink(provider_ms: int = 0) -> Sink:
    """The Twilio-compatible sink, answering each message after `provider_ms`."""
    delay = ["--delay", str(provider_ms / 1000)] if provider_ms else []
    return start_sink("tests.fakes.twilio_server", "--sid", SID, "--token", TOKEN, *delay)


def environment(url: str, smtp: Sink, twilio: Sink, port: int, **extra: str) -> dict[str, str]:
    """The daemon's configuration: the sinks, rates high enough never to bind."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFIER_")}
    env.update(
        NOTIFIER_DATABASE__URL=url,
        NOTIFIER_HTTP__PORT=str(port),
        NOTIFIER_HTTP__PUBLIC_URL=f"http://127.0.0.1:{port}",
        NOTIFIER_SECURITY__SECRET_KEY="bench-secret-key-0123456789",
        NOTIFIER_EMAIL__HOST="127.0.0.1",
        NOTIFIER_EMAIL__PORT=str(smtp.port),
        NOTIFIER_EMAIL__TLS="none",
        NOTIFIER_EMAIL__POOL_SIZE=str(POOL_SIZE),
        NOTIFIER_EMAIL__RATE_PER_SECOND="100000",
        NOTIFIER_SMS__ACCOUNT_SID=SID,
        NOTIFIER_SMS__AUTH_TOKEN=TOKEN,
        NOTIFIER_SMS__FROM_NUMBER="+15005550006",
        NOTIFIER_SMS__API_BASE_URL=f"http://127.0.0.1:{twilio.port}",
        NOTIFIER_SMS__RATE_PER_SECOND="100000",
        NOTIFIER_SMS__CONCURRENCY=str(SMS_CONCURRENCY),
        NOTIFIER_LOGGING__LEVEL="warning",
        NOTIFIER_LOGGING__FORMAT="json",
    )
    env.update(extra)
    return env


async def prepare(url: str, people: int, folder: Path) -> str:
    """Migrate, import the stations and a generated roster; an admin token."""
    roster = folder / f"roster-{people}.csv"
    generate_roster(roster, people)
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await import_stations(database, CONTACTS / "stations.csv", actor="bench")
        await import_roster(database, roster, actor="bench")
        async with database.session() as session:
            return await tokens.create_token(
                session, f"bench-{people}", Role.ADMIN, (), actor="bench"
            )


@asynccontextmanager
async def daemon(env: Mapping[str, str], log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`notifier serve`, healthy, stopped with SIGTERM at the end."""
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: ASYNC220 (started once, before the measurement)
            [sys.executable, *os.environ.get("BENCH_DAEMON", "-m notifier serve").split()],
            env=dict(env),
            cwd=REPOSITORY,
            stdout=output,
            stderr=output,
        )
    port = env["NOTIFIER_HTTP__PORT"]
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"daemon did not start; see {log}")
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited at start; see {log}")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


@asynccontextmanager
async def daemons(
    url: str, smtp: Sink, twilio: Sink, ports: Sequence[int], log: Path, **extra: str
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """A daemon on each of `ports`, all on the database and sharing the first one's public URL
    (as replicas behind a load balancer do), with the settings `extra` besides `environment`'s,
    healthy; stopped at the end."""
    public = f"http://127.0.0.1:{ports[0]}"
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                daemon(
                    environment(url, smtp, twilio, port, NOTIFIER_HTTP__PUBLIC_URL=public, **extra),
                    log,
                )
            )
            for port in ports
        ]


async def raise_and_wait(
    port: str, token: str, stations: list[str], channels: Sequence[str] = ("sms", "email")
) -> tuple[float, float, int]:
    """POST the alert; (time the POST answered, time it was dispatched, alert id)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}
        body = {
            "title": TITLE,
            "message": MESSAGE,
            "stations": stations,
            "channels": list(channels),
        }
        answer = await client.post("/api/v1/alerts", json=body, headers=headers)
        answered = time.time()
        assert answer.status_code == 202, answer.text
        alert_id = answer.json()["id"]
        while True:
            status = (await client.get(f"/api/v1/alerts/{alert_id}", headers=headers)).json()[
                "status"
            ]
            if status != "dispatching":
                return answered, time.time(), alert_id
            await asyncio.sleep(0.5)  # an officer's screen refreshes about this often


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User and system CPU time used so far by the PostgreSQL server processes that are
    running now (0 when there is none on this machine)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        if text.partition("(")[2].startswith("postgres)"):
            total += cpu_seconds(int(stat.parent.name))
    return total


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def raw_loop(
    url: str,
    smtp: Sink,
    twilio: Sink,
    channels: Sequence[str] = ("sms", "email"),
    http: AsyncTwilioHttpClient | None = None,
    concurrency: int = SMS_CONCURRENCY,
) -> None:
    """The same messages, sent by aiosmtplib and the twilio SDK alone (through `http`, with
    `concurrency` SMS under way)."""
    settings = load_settings(None, {"NOTIFIER_SECURITY__SECRET_KEY": "bench-secret-key-0123456789"})
    factory = MessageFactory(load_templates(REPOSITORY / "config" / "templates"), settings)
    content = AlertContent("BNCH", AlertKind.EMERGENCY, Severity.SEVERE, TITLE, MESSAGE)
    alert = AlertToSend(1, content, datetime.now(UTC))
    async with Database.open(url) as database, database.session() as session:
        rows = (
            await session.execute(
                select(PERSON.c.id, PERSON.c.phone, PERSON.c.email, PERSON.c.language)
            )
        ).all()
    people = [Addressee(row.id, row.phone, row.email, Language(row.language)) for row in rows]
    emails = [factory.email(alert, person) for person in people]
    sms = [factory.sms(alert, person) for person in people]
    await asyncio.gather(
        _raw_smtp(emails if "email" in channels else [], smtp.port),
        _raw_twilio(sms if "sms" in channels else [], twilio.port, http, concurrency),
    )


async def _raw_smtp(messages: list[OutgoingEmail], port: int) -> None:
    queue: asyncio.Queue[OutgoingEmail] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False)
        await smtp.connect()
        while not queue.empty():
            outgoing = queue.get_nowait()
            mime = build_email(outgoing, from_address="ens@example.org", now=datetime.now(UTC))
            await smtp.send_message(mime)
        await smtp.quit()

    await asyncio.gather(*(worker() for _ in range(POOL_SIZE)))


async def _raw_twilio(
    messages: list[OutgoingSms],
    port: int,
    http: AsyncTwilioHttpClient | None = None,
    concurrency: int = SMS_CONCURRENCY,
) -> None:
    http = http or AsyncTwilioHttpClient()
    client = Client(SID, TOKEN, http_client=http)
    client.api.base_url = f"http://127.0.0.1:{port}"
    limit = asyncio.Semaphore(concurrency)

    async def send(number: int, message: OutgoingSms) -> None:
        async with limit:
            await client.messages.create_async(
                to=message.to,
                body=message.body,
                from_="+15005550006",
                status_callback=f"{STATUS_CALLBACK}?delivery={number}",  # as the daemon's
            )

    await asyncio.gather(*(send(number, message) for number, message in enumerate(messages, 1)))
    if http.session is not None:
        await http.session.close()


def _ratio(daemon: float, raw: float) -> str:
    return f"{daemon / raw:.0%}" if raw else "-"


def report(name: str, answered: float, done: float, smtp: Sink, twilio: Sink) -> None:
    """Print one run's figures."""
    print(f"{name}:")
    for label, sink in (("e-mail", smtp), ("SMS", twilio)):
        if not sink.received:
            continue
        first = (
            f"{(sink.first - answered) * 1000:.0f} ms after the POST answered; " if answered else ""
        )
        print(
            f"  {label}: {sink.received} received, {first}all in {sink.last - sink.first:.1f} s "
            f"({sink.rate:.0f}/s)"
        )
    if answered:
        print(f"  alert dispatched {done - answered:.1f} s after the POST answered")


async def main() -> None:
    """Run the three measurements and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--memory-people", type=int, default=100_000, help="0 skips this run")
    parser.add_argument(
        "--channels", default="sms,email", help="measure one channel alone: sms or email"
    )
    parser.add_argument("--postgres", metavar="URL", help="use this PostgreSQL server")
    args = parser.parse_args()
    stations = ["NBO", "GVA", "BKK", "SCL"]
    channels = [name.strip() for name in args.channels.split(",") if name.strip()]
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        async with bench_database(args.postgres, folder, "bench") as url:
            await measure(args, url, folder, stations, channels)
        if args.memory_people <= 0:
            return
        async with bench_database(args.postgres, folder, "memory") as url:
            await measure_memory(args, url, folder, stations)


@asynccontextmanager
async def bench_database(postgres: str | None, folder: Path, name: str) -> AsyncIterator[str]:
    """A SQLite file in `folder`, or a database of its own on the PostgreSQL server: its URL."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{folder / f'{name}.db'}"
        return
    async with throwaway_database(postgres, f"bench_fan_out_{name}") as url:
        yield url


async def measure(
    args: argparse.Namespace, url: str, folder: Path, stations: list[str], channels: list[str]
) -> None:
    """The daemon against the raw libraries, each from the same database's roster."""
    token = await prepare(url, args.people, folder)
    smtp, twilio = start_sinks()
    port = free_port()
    env = environment(url, smtp, twilio, port)
    async with daemon(env, folder / "daemon.log") as process:
        cpu_before, server_before = cpu_seconds(process.pid), postgres_cpu_seconds()
        answered, done, _ = await raise_and_wait(str(port), token, stations, channels)
        daemon_cpu = cpu_seconds(process.pid) - cpu_before
        server_cpu = postgres_cpu_seconds() - server_before
    smtp.stop()
    twilio.stop()
    report(f"daemon, {args.people} people", answered, done, smtp, twilio)
    daemon_rates = (smtp.rate, twilio.rate)

    smtp, twilio = start_sinks()
    started, raw_cpu_before = time.time(), time.process_time()
    await raw_loop(url, smtp, twilio, channels)
    finished, raw_cpu = time.time(), time.process_time() - raw_cpu_before
    smtp.stop()
    twilio.stop()
    report(f"raw libraries, {args.people} people", 0, 0, smtp, twilio)
    print(f"  all sent in {finished - started:.1f} s")
    print(
        f"daemon / raw throughput: e-mail {_ratio(daemon_rates[0], smtp.rate)}, "
        f"SMS {_ratio(daemon_rates[1], twilio.rate)}"
    )
    if "sms" in channels:
        # The raw loop again, its SMS through the daemon's own HTTP client under the SDK:
        # how much of the comparison the leaner client accounts for.
        smtp, twilio = start_sinks()
        lean = TwilioHttpClient(logging.Logger("bench", logging.WARNING), 30.0)
        await raw_loop(url, smtp, twilio, channels, http=lean)
        smtp.stop()
        twilio.stop()
        print(
            f"  SMS through the daemon's HTTP client: {twilio.rate:.0f}/s; daemon / that: "
            f"{_ratio(daemon_rates[1], twilio.rate)}"
        )
    messages = len(channels) * args.people / 1000
    print(
        f"CPU per 1,000 messages: daemon {daemon_cpu / messages:.2f} s, "
        f"raw loop (rendering included) {raw_cpu / messages:.2f} s"
    )
    if args.postgres:
        print(f"  PostgreSQL's own during the daemon's run: {server_cpu / messages:.2f} s")


async def measure_memory(
    args: argparse.Namespace, memory_url: str, folder: Path, stations: list[str]
) -> None:
    """The daemon's peak memory on a large alert through the console channels."""
    smtp, twilio = start_sinks()
    memory_token = await prepare(memory_url, args.memory_people, folder)
    port = free_port()
    env = environment(
        memory_url,
        smtp,
        twilio,
        port,
        NOTIFIER_EMAIL__BACKEND="console",
        NOTIFIER_SMS__BACKEND="console",
    )
    async with daemon(env, folder / "memory.log") as process:
        answered, done, _ = await raise_and_wait(str(port), memory_token, stations)
        peak = peak_rss_mib(process.pid)
    smtp.stop()
    twilio.stop()
    print(
        f"daemon, {args.memory_people} people, console channels: dispatched in "
        f"{done - answered:.1f} s, peak memory {peak:.0f} MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
