"""Benchmark: every recipient answers an alert by SMS while the alert is still being sent.

Against one `notifier serve` per database, or `--replicas` of them on PostgreSQL sharing
one public URL as behind a load balancer (the loopback sinks and the roster of
`bench.fan_out`, both channels at its rates): the rate of `/healthz` alone, asked the same way
as the replies are posted and for as long (`--seconds`), then an alert to
everyone sent without replies (the baseline of the fan-out's pace), closed once sent; then
the same alert again, and as soon as all its recipients are in place, signed inbound SMS to
`POST /webhooks/twilio/sms` (Body "1", every tenth "2"), posted by concurrent keep-alive
senders spread over the replicas in turn: one from each person, then more from each in turn
(each with a MessageSid of its own) until `--seconds` have passed. Figures: replies a second
against `/healthz`, the webhook's p50 and p99, how soon the alert's view shows everyone
answered, the fan-out's pace during the replies against the baseline's over the same seconds
after the API answered, and the answers and confirmations found in the database (one answer
row per reply posted, a confirmation for each person). Last, how busy the machine was and which
processes used its CPU (`bench.cpu_share`): while `/healthz` alone was asked, while the alert
without replies sent its e-mail, and while the replies came in.

With `--provider-ms N` the Twilio-compatible sink answers each SMS after N ms, as real
providers do, and each daemon has 64 SMS under way (as in `bench.replicas`); by default it
answers at once and the fan-out is held back by the CPU alone. With `--relay-ms N` the SMTP
sink likewise answers each message after N ms, as a relay writing it to its queue does, and
each daemon keeps 64 connections to it (`email.pool_size`).

Run: `.venv/bin/python -m bench.replies [--people N] [--senders N] [--seconds S]
[--provider-ms N] [--relay-ms N] [--postgres URL [--no-sqlite] [--replicas N]]`
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import httpx
from sqlalchemy import func, select, text
from twilio.request_validator import RequestValidator

from bench.cpu_share import CpuSampler
from bench.fan_out import (
    SID,
    TOKEN,
    Sink,
    cpu_seconds,
    daemons,
    free_port,
    postgres_cpu_seconds,
    prepare,
    start_sinks,
)
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON, RESPONSE
from tests.postgres import throwaway_database

REPLY_PATH = "/webhooks/twilio/sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
STATIONS = ("NBO", "GVA", "BKK", "SCL")
CHANNELS = ("sms", "email")
POLL_SECONDS = 0.1
SLOW_PROVIDER_CONCURRENCY = 64
"""`sms.concurrency` of each replica when the provider answers slowly (`--provider-ms`), and
its `email.pool_size` when the relay does (`--relay-ms`)."""
PACE_KEPT = 0.8
"""The share of its pace without replies the fan-out is to keep while they come in."""
WAIT_SECONDS = 300.0
"""The longest any wait may take (an alert to be listed, sent, answered): then the run fails."""

T = TypeVar("T")


class BenchError(RuntimeError):
    """The run cannot go on: the daemon died, a wait timed out, an answer was not the one due."""


@dataclass(frozen=True, slots=True)
class Watch:
    """The daemons' processes and log: every wait checks that they are still alive."""

    processes: list[subprocess.Popen[bytes]]
    log: Path

    def check(self) -> None:
        """Raise BenchError if a daemon has exited."""
        for process in self.processes:
            code = process.poll()
            if code is not None:
                raise BenchError(f"a daemon exited with status {code}")


def log_tail(log: Path, lines: int = 30) -> str:
    """The last lines of the daemon's log."""
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def until(
    check: Callable[[], Awaitable[T | None]], watch: Watch, what: str, seconds: float = WAIT_SECONDS
) -> T:
    """Call `check` every POLL_SECONDS until it returns something; BenchError after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        watch.check()
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


@dataclass(frozen=True, slots=True)
class Reply:
    """One inbound SMS, its form encoded and signed as Twilio does."""

    body: bytes
    signature: str


class Senders:
    """A fresh aiohttp session keeping a connection alive for each of `senders` concurrent
    tasks, their requests going to the `ports` in turn: the load of the replies and of
    `/healthz` alike.

    aiohttp rather than httpx: in this run's conditions httpx's pool answers about 86
    requests a second with 64 tasks however fast the server is, aiohttp over 500. Fresh for
    each measurement: a connection left idle longer than the daemon's keep-alive (5 s) may
    be closed by the daemon just as a request is sent on it, which then fails.
    """

    def __init__(self, ports: Sequence[int], senders: int) -> None:
        self._bases = itertools.cycle([f"http://127.0.0.1:{port}" for port in ports])
        self.senders = senders
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Senders:
        connector = aiohttp.TCPConnector(limit=self.senders)
        timeout = aiohttp.ClientTimeout(total=30)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """The status and text of one request."""
        assert self._session is not None
        async with self._session.request(
            method, next(self._bases) + path, data=body, headers=headers
        ) as answer:
            return answer.status, await answer.text()


class SignedReplies:
    """Replies from the phones in turn, again and again: "1" (safe), every tenth person "2"
    (help); a MessageSid each; signed for `public_url`."""

    def __init__(self, phones: Sequence[str], public_url: str) -> None:
        self.phones = phones
        self._url = public_url + REPLY_PATH
        self._validator = RequestValidator(TOKEN)

    def __getitem__(self, index: int) -> Reply:
        person = index % len(self.phones)
        form = {
            "AccountSid": SID,
            "MessageSid": "SM" + secrets.token_hex(16),
            "From": self.phones[person],
            "To": "+15005550006",
            "Body": "2" if person % 10 == 9 else "1",
            "NumMedia": "0",
        }
        signature = self._validator.compute_signature(self._url, form)
        return Reply(urlencode(form).encode(), signature)


@dataclass
class Replied:
    """When the replies were posted, each one's latency, and the answers that were not due."""

    started: float = 0.0
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    retried: int = 0

    @property
    def count(self) -> int:
        """Replies posted."""
        return len(self.latencies)

    def percentile(self, fraction: float) -> float:
        """The latency at `fraction` (nearest rank), in seconds."""
        ordered = sorted(self.latencies)
        return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


async def post_replies(
    client: Senders, replies: SignedReplies, senders: int, seconds: float
) -> Replied:
    """Post replies through `senders` concurrent tasks sharing the client's connections: one
    from each phone, then more until `seconds` have passed."""
    replied = Replied(started=time.time())
    numbers = itertools.count()
    deadline = time.monotonic() + seconds

    async def sender() -> None:
        for index in numbers:
            if index >= len(replies.phones) and time.monotonic() > deadline:
                return
            reply = replies[index]
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": reply.signature,
            }
            started = time.perf_counter()
            try:
                status, text = await client.request("POST", REPLY_PATH, reply.body, headers)
            except aiohttp.ClientConnectionError:
                # The daemon closed the kept-alive connection as the request went out (its
                # idle deadline passed before it read the request): post again, as a
                # provider's retry would. The MessageSid keeps a second post from counting.
                replied.retried += 1
                status, text = await client.request("POST", REPLY_PATH, reply.body, headers)
            replied.latencies.append(time.perf_counter() - started)
            if status != 200 or text != EMPTY_TWIML:
                replied.wrong.append(f"{status} {text[:200]}")

    await asyncio.gather(*(sender() for _ in range(senders)))
    replied.finished = time.time()
    return replied


async def health_rate(client: Senders, senders: int, seconds: float) -> float:
    """`/healthz` answers a second, asked by `senders` concurrent tasks for `seconds`.

    Each task's connection is opened and used once before the clock starts, so that the rate
    is that of kept-alive connections, as during the replies.
    """
    await asyncio.gather(*(client.request("GET", "/healthz") for _ in range(senders)))
    deadline = time.perf_counter() + seconds
    answered = 0

    async def sender() -> None:
        nonlocal answered
        while time.perf_counter() < deadline:
            status, text = await client.request("GET", "/healthz")
            if status != 200:
                raise BenchError(f"/healthz answered {status}: {text[:200]}")
            answered += 1

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return answered / (time.perf_counter() - started)


class Api:
    """The daemon's alert API, as an officer's client uses it, with the daemon watched."""

    def __init__(self, client: httpx.AsyncClient, token: str, watch: Watch) -> None:
        self.client, self.watch = client, watch
        self.headers = {"Authorization": f"Bearer {token}"}

    async def raise_alert(self) -> tuple[int, float]:
        """POST the alert to every station on both channels: its id, when the API answered."""
        body = {
            "title": "Earthquake",
            "message": "Leave the building by the stairs. Reply 1 if safe, 2 if you need help.",
            "stations": list(STATIONS),
            "channels": list(CHANNELS),
        }
        answer = await self.client.post("/api/v1/alerts", json=body, headers=self.headers)
        answered = time.time()
        if answer.status_code != 202:
            raise BenchError(f"raising the alert: {answer.status_code} {answer.text[:200]}")
        return int(answer.json()["id"]), answered

    async def view(self, alert_id: int) -> dict[str, Any]:
        """GET /api/v1/alerts/{id}."""
        answer = await self.client.get(f"/api/v1/alerts/{alert_id}", headers=self.headers)
        if answer.status_code != 200:
            raise BenchError(f"the alert's view: {answer.status_code} {answer.text[:200]}")
        view: dict[str, Any] = answer.json()
        return view

    async def close(self, alert_id: int) -> None:
        """POST /api/v1/alerts/{id}/close."""
        answer = await self.client.post(f"/api/v1/alerts/{alert_id}/close", headers=self.headers)
        if answer.status_code != 200:
            raise BenchError(f"closing the alert: {answer.status_code} {answer.text[:200]}")

    async def materialised(self, alert_id: int, people: int) -> dict[str, Any]:
        """The view once every person has a message queued on both channels."""

        async def check() -> dict[str, Any] | None:
            view = await self.view(alert_id)
            listed = [sum(view["channels"][channel].values()) for channel in CHANNELS]
            return view if min(listed) >= people else None

        return await until(check, self.watch, "the alert's recipients listed")

    async def dispatched(self, alert_id: int) -> None:
        """Wait until the alert is sent to everyone."""

        async def check() -> bool | None:
            return (await self.view(alert_id))["status"] != "dispatching" or None

        await until(check, self.watch, "the alert dispatched")

    async def answered(self, alert_id: int, people: int) -> float:
        """Wait until the view shows `people` answered; when it first did."""

        async def check() -> float | None:
            view = await self.view(alert_id)
            return time.time() if view["acknowledged"] >= people else None

        return await until(check, self.watch, "the view showing every answer", seconds=60)


def sent(view: dict[str, Any], channel: str) -> int:
    """Messages of the channel the provider took (sent, delivered or failed), from the view."""
    states = view["channels"][channel]
    return int(states["sent"] + states["delivered"] + states["failed"])


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the database holds after the run."""

    responses: int
    people_answered: int
    confirmations: int
    people_confirmed: int
    sent_times: dict[int, dict[str, list[float]]]
    """Per alert and channel: when each of its messages was recorded sent (epoch seconds)."""


async def phones(url: str) -> list[str]:
    """Every person's phone number, in roster order."""
    async with Database.open(url) as database, database.session() as session:
        query = select(PERSON.c.phone).order_by(PERSON.c.id)
        return [str(phone) for phone in (await session.execute(query)).scalars()]


async def autovacuum(url: str) -> str | None:
    """PostgreSQL's `autovacuum` setting ("on" or "off"), None on SQLite. Off, the rows that
    updates leave behind stay in the tables and their indexes for the whole run."""
    if not url.startswith("postgresql"):
        return None
    async with Database.open(url) as database, database.session() as session:
        return str((await session.execute(text("SHOW autovacuum"))).scalar_one())


async def confirmations_sent(url: str, watch: Watch, people: int) -> None:
    """Wait until the answers' confirmations are all queued and sent, read in the database."""
    d = DELIVERY.c
    query = select(func.count(), func.count().filter(d.status.in_(("queued", "sending")))).where(
        d.purpose == "answer"
    )
    async with Database.open(url) as database:

        async def check() -> bool | None:
            async with database.session() as session:
                total, waiting = (await session.execute(query)).one()
            return (total >= people and not waiting) or None

        await until(check, watch, "the confirmations sent")


async def recorded(url: str, alerts: Sequence[int]) -> Recorded:
    """Count the SMS answers and the confirmations, and read when each message was sent."""
    d = DELIVERY.c
    async with Database.open(url) as database, database.session() as session:
        responses, people = (
            await session.execute(
                select(func.count(), func.count(RESPONSE.c.person.distinct())).where(
                    RESPONSE.c.channel == "sms"
                )
            )
        ).one()
        confirmations, confirmed = (
            await session.execute(
                select(func.count(), func.count(d.person.distinct())).where(d.purpose == "answer")
            )
        ).one()
        times: dict[int, dict[str, list[float]]] = {
            alert: {channel: [] for channel in CHANNELS} for alert in alerts
        }
        query = select(d.alert_id, d.channel, d.sent_at).where(
            d.alert_id.in_(alerts), d.purpose == "alert", d.sent_at.is_not(None)
        )
        for alert, channel, moment in await session.execute(query):
            aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            times[alert][channel].append(aware.timestamp())
    return Recorded(responses, people, confirmations, confirmed, times)


@dataclass(frozen=True, slots=True)
class Pace:
    """Messages of one alert sent within a window, and their pace while it was still sending."""

    count: int
    per_second: float
    all_sent_after: float
    """Seconds from the API's answer to the alert's last message."""


def pace(times: Sequence[float], answered: float, window: tuple[float, float]) -> Pace:
    """The messages sent from `window[0]` to `window[1]` seconds after the API answered."""
    start, end = answered + window[0], answered + window[1]
    last = max(times, default=answered)
    count = sum(1 for moment in times if start <= moment <= end)
    sending = min(end, last) - start
    return Pace(count, count / sending if sending > 0 else 0.0, last - answered)


@dataclass(frozen=True, slots=True)
class Run:
    """One database's measurements."""

    name: str
    people: int
    senders: int
    replicas: int
    health: float
    health_window: tuple[float, float]
    replied: Replied
    view_lag: float
    listed_after: float
    sent_when_replying: dict[str, int]
    baseline: tuple[int, float]
    measured: tuple[int, float]
    found: Recorded
    cpu: CpuSampler
    autovacuum: str | None


async def measure(
    name: str, url: str, args: argparse.Namespace, replicas: int, folder: Path
) -> Run:
    """Prepare the database, start the sinks and the daemons, and take every figure."""
    people, senders = args.people, args.senders
    token = await prepare(url, people, folder)
    ports = [free_port() for _ in range(replicas)]
    replies = SignedReplies(await phones(url), f"http://127.0.0.1:{ports[0]}")
    smtp, twilio = start_sinks(args.provider_ms, args.relay_ms)
    # A provider answering as real ones do is waited on by as many sends as `bench.replicas`
    # lets each replica have under way.
    slow = {"NOTIFIER_SMS__CONCURRENCY": str(SLOW_PROVIDER_CONCURRENCY)} if args.provider_ms else {}
    if args.relay_ms:
        slow["NOTIFIER_EMAIL__POOL_SIZE"] = str(SLOW_PROVIDER_CONCURRENCY)
    log = folder / f"daemon-{name.split()[0]}.log"
    try:
        async with (
            daemons(url, smtp, twilio, ports, log, **slow) as processes,
            cpu_sampler(processes, (smtp, twilio)) as cpu,
        ):
            watch = Watch(processes, log)
            async with Senders(ports, senders) as client:
                health_started = time.time()
                health = await health_rate(client, senders, args.seconds)
                health_window = (health_started, time.time())
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{ports[0]}", timeout=30
            ) as officer:
                api = Api(officer, token, watch)
                baseline = await api.raise_alert()
                await api.dispatched(baseline[0])
                await api.close(baseline[0])
                measured = await api.raise_alert()
                view = await api.materialised(measured[0], people)
                listed_after = time.time() - measured[1]
                async with Senders(ports, senders) as client:
                    replied = await post_replies(client, replies, senders, args.seconds)
                shown = await api.answered(measured[0], people)
                await api.dispatched(measured[0])
                await confirmations_sent(url, watch, people)
    except (BenchError, httpx.HTTPError, RuntimeError) as error:
        raise BenchError(
            f"{name}: {type(error).__name__}: {error}\n"
            f"--- the daemons' log, last lines ---\n{log_tail(log)}"
        ) from error
    finally:
        stop_sinks(smtp, twilio)
    if replied.wrong:
        print(f"{name}: {len(replied.wrong)} replies not answered as due, e.g. {replied.wrong[0]}")
    return Run(
        name,
        people,
        senders,
        replicas,
        health,
        health_window,
        replied,
        shown - replied.finished,
        listed_after,
        {channel: sent(view, channel) for channel in CHANNELS},
        baseline,
        measured,
        await recorded(url, (baseline[0], measured[0])),
        cpu,
        await autovacuum(url),
    )


def cpu_sampler(processes: Sequence[subprocess.Popen[bytes]], sinks: Sequence[Sink]) -> CpuSampler:
    """A sampler of the CPU used by the daemons, PostgreSQL, the sinks and this process (the
    load's senders and the officer's polls)."""
    return CpuSampler(
        {
            "daemons": lambda: sum(cpu_seconds(process.pid) for process in processes),
            "PostgreSQL": postgres_cpu_seconds,
            "sinks": lambda: sum(cpu_seconds(sink.process.pid) for sink in sinks),
            "benchmark": time.process_time,
        }
    )


def stop_sinks(*sinks: Sink) -> None:
    """Stop each sink; one that does not stop in time is killed."""
    for sink in sinks:
        try:
            sink.stop()
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            sink.process.kill()
            sink.process.wait()


def report(run: Run) -> None:
    """Print one database's figures as a table, with the goals."""
    replied, n, posted = run.replied, run.people, run.replied.count
    seconds = replied.finished - replied.started
    rate = posted / seconds
    p50, p99 = replied.percentile(0.5), replied.percentile(0.99)
    window = (replied.started - run.measured[1], replied.finished - run.measured[1])
    found = run.found
    rows = [
        ("/healthz alone", f"{run.health:,.0f}/s", "", ""),
        ("replies", f"{posted:,} in {seconds:.1f} s: {rate:,.0f}/s", "", ""),
        ("replies / /healthz", f"{rate / run.health:.2f}", ">= 0.5", _met(rate >= run.health / 2)),
        (
            "webhook p50 / p99",
            f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms",
            "p99 < 500 ms",
            _met(p99 < 0.5),
        ),
        ("view shows all answered", f"{run.view_lag:.2f} s after", "< 2 s", _met(run.view_lag < 2)),
        (
            "SMS answers: rows / people",
            f"{found.responses:,} / {found.people_answered:,}",
            f"{posted:,} / {n:,}",
            _met(found.responses == posted and found.people_answered == n),
        ),
        (
            "confirmations queued / people",
            f"{found.confirmations:,} / {found.people_confirmed:,}",
            f"- / {n:,}",
            _met(found.people_confirmed == n),
        ),
        ("replies not answered as due", f"{len(replied.wrong)}", "0", _met(not replied.wrong)),
        ("replies posted again (connection closed)", f"{replied.retried}", "", ""),
        (
            "recipients listed; sent by then",
            f"{run.listed_after:.2f} s after the API; "
            + ", ".join(f"{ch} {run.sent_when_replying[ch]:,}" for ch in CHANNELS),
            "",
            "",
        ),
    ]
    rows += _pace_rows(run, window)
    rows += _cpu_rows(run)
    if run.autovacuum is not None:
        rows.append(("PostgreSQL's autovacuum", run.autovacuum, "", ""))
    replicas = f", {run.replicas} replicas" if run.replicas > 1 else ""
    print(f"\n{run.name}{replicas}, {n:,} people, {run.senders} senders")
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _pace_rows(run: Run, window: tuple[float, float]) -> list[tuple[str, str, str, str]]:
    """The fan-out's pace in the replies' window, with replies and in the baseline: each
    channel's, then the whole alert's (both channels' messages together)."""
    rows = []
    label = f"{window[0]:.1f}-{window[1]:.1f} s after the API"
    times = run.found.sent_times
    for channel in (*CHANNELS, None):
        chosen = CHANNELS if channel is None else (channel,)
        name = channel or "whole fan-out"
        with_replies = pace(
            [t for ch in chosen for t in times[run.measured[0]][ch]], run.measured[1], window
        )
        without = pace(
            [t for ch in chosen for t in times[run.baseline[0]][ch]], run.baseline[1], window
        )
        kept = with_replies.per_second / without.per_second if without.per_second else 0.0
        rows.append(
            (
                f"{name} pace, {label}",
                f"with replies {with_replies.count:,} ({with_replies.per_second:,.0f}/s), "
                f"without {without.count:,} ({without.per_second:,.0f}/s): {kept:.0%}",
                f">= {PACE_KEPT:.0%}",
                _met(kept >= PACE_KEPT),
            )
        )
        rows.append(
            (
                f"{name} all sent",
                f"with replies {with_replies.all_sent_after:.1f} s after the API, "
                f"without {without.all_sent_after:.1f} s",
                "",
                "",
            )
        )
    return rows


def _cpu_rows(run: Run) -> list[tuple[str, str, str, str]]:
    """How busy the machine was, and what used its CPU: while `/healthz` alone was asked; while
    the alert without replies sent its e-mail; while the replies came in, before and after the
    measured alert's e-mail was all sent."""
    times = run.found.sent_times
    baseline_email = max(times[run.baseline[0]]["email"], default=run.baseline[1])
    measured_email = max(times[run.measured[0]]["email"], default=run.measured[1])
    started, finished = run.replied.started, run.replied.finished
    stretches = [
        ("CPU, /healthz alone", run.health_window),
        ("CPU, the fan-out alone until its e-mail was sent", (run.baseline[1], baseline_email)),
        ("CPU, replies while the e-mail was sending", (started, min(finished, measured_email))),
        ("CPU, replies once it was sent", (measured_email, finished)),
    ]
    rows = []
    for label, (start, end) in stretches:
        share = run.cpu.between(start, end)
        if share is not None:
            rows.append((label, share.describe(), "", ""))
    return rows


def _met(condition: bool) -> str:
    return "yes" if condition else "NO"


async def main() -> None:
    """Measure SQLite, then PostgreSQL if given; print each database's table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="post replies this long (each person once at least)",
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="daemons on the PostgreSQL database"
    )
    parser.add_argument(
        "--provider-ms",
        type=int,
        default=0,
        help="the Twilio-compatible sink answers each SMS after this long "
        f"(then sms.concurrency {SLOW_PROVIDER_CONCURRENCY})",
    )
    parser.add_argument(
        "--relay-ms",
        type=int,
        default=0,
        help="the SMTP sink answers each message after this long "
        f"(then email.pool_size {SLOW_PROVIDER_CONCURRENCY})",
    )
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL database")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="measure only the PostgreSQL database"
    )
    args = parser.parse_args()
    slow = [
        f"{what} answering in {ms} ms"
        for what, ms in (("SMS provider", args.provider_ms), ("SMTP relay", args.relay_ms))
        if ms
    ]
    provider = f" ({', '.join(slow)})" if slow else ""
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        try:
            if not args.no_sqlite:
                started = time.monotonic()
                url = f"sqlite+aiosqlite:///{folder / 'replies.db'}"
                report(await measure(f"SQLite{provider}", url, args, 1, folder))
                print(f"  (run took {time.monotonic() - started:.0f} s)")
            if args.postgres:
                started = time.monotonic()
                async with throwaway_database(args.postgres, "bench_replies") as postgres:
                    run = await measure(
                        f"PostgreSQL{provider}", postgres, args, args.replicas, folder
                    )
                report(run)
                print(f"  (run took {time.monotonic() - started:.0f} s)")
        except BenchError as error:
            sys.exit(str(error))


if __name__ == "__main__":
    asyncio.run(main())
