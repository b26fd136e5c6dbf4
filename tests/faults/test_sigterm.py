"""SIGTERM mid fan-out: the daemon gives back to the outbox what it holds and has not begun,
finishes the sends under way within the grace, exits 0 and leaves the rest queued, unleased;
the daemon started next sends them, nobody twice. How long the exit took is printed
(docs/reliability.md); the test's only bound on time is the grace."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Role
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    events,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.seeding import nairobi_people, seed

PEOPLE = 150
SMS_CONCURRENCY = 8
PROVIDER_SECONDS = 1.0
"""A slow provider: each SMS is under way a second, so SIGTERM finds sends in flight."""
RESUMED_PROVIDER_SECONDS = 0.02
"""The provider's pace once the first daemon is gone: the rest need not take minutes."""
TERM_AFTER = 16
"""SIGTERM once the provider has accepted this many messages (two rounds of the senders),
while every sender has a message under way."""
GRACE_SECONDS = 10.0
EXIT_MARGIN_SECONDS = 10.0
"""Beyond the grace: closing the database and the channels, the interpreter's exit, on a
loaded machine."""
LEASE_SECONDS = 120
"""Longer than the test: a delivery left leased would not be sent by the next daemon before
the test gives up, nor hidden by its lease running out."""
PATIENCE_SECONDS = 90


async def _exited(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    """Wait (without blocking the fakes' loop) up to `seconds` for the process to exit."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return process.poll()


async def _leased(database: Database) -> dict[str, int]:
    """Deliveries by status, and how many still have a lease ("leased")."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            select(DELIVERY.c.status, func.count()).group_by(DELIVERY.c.status)
        )
        counts = {status: count for status, count in rows.all()}
        leased = select(func.count()).where(DELIVERY.c.lease_expires_at.is_not(None))
        counts["leased"] = int((await session.execute(leased)).scalar_one())
    return counts


async def _recorded_sent(database: Database) -> Counter[str]:
    """The phone numbers of the deliveries recorded sent, as many times as recorded."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            select(PERSON.c.phone)
            .join(DELIVERY, DELIVERY.c.person == PERSON.c.id)
            .where(DELIVERY.c.status == "sent")
        )
        return Counter(phone for (phone,) in rows.all())


async def _until_reached(twilio: FakeTwilioServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        if len({message.to for message in twilio.messages}) == PEOPLE:
            return
        await asyncio.sleep(0.05)


async def _until_settled(database: Database, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        counts = await _leased(database)
        if not counts.get("queued") and not counts.get("sending"):
            return
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    indirect=True,
)
async def test_sigterm_mid_fan_out_finishes_the_sends_under_way_and_leaves_the_rest_queued(
    database_url: str, tmp_path: Path
) -> None:
    """SIGTERM while SMS take a second each: the daemon sends no more than were under way,
    exits 0 within the grace, every message the provider accepted is recorded sent, nothing
    is left leased, the rest is queued; the next daemon sends the rest, nobody twice."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    async with Database.open(database_url) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=PROVIDER_SECONDS) as twilio,
        ):
            port = free_port()
            env = daemon_environment(
                database_url,
                smtp.port,
                twilio.base_url,
                port,
                NOTIFIER_SMS__CONCURRENCY=str(SMS_CONCURRENCY),
                NOTIFIER_HTTP__SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
                NOTIFIER_DISPATCH__LEASE_SECONDS=str(LEASE_SECONDS),
                NOTIFIER_LOGGING__LEVEL="info",
            )
            first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
            first = start_daemon(env, first_log)
            try:
                await wait_healthy(first, port, first_log)
                async with database.session() as session:
                    request = AlertRequest(
                        title="Earthquake",
                        message="Leave now.",
                        stations=("NBO",),
                        channels=(Channel.SMS,),
                    )
                    await alerts.create_alert(session, request, Principal("officer", Role.ADMIN))
                deadline = time.monotonic() + PATIENCE_SECONDS
                while len(twilio.messages) < TERM_AFTER and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                deadline = time.monotonic() + 2 * PROVIDER_SECONDS  # the senders' next round
                while twilio.in_flight < SMS_CONCURRENCY and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                in_flight, accepted_before = twilio.in_flight, len(twilio.messages)
                first.send_signal(signal.SIGTERM)
                termed = time.monotonic()
                status = await _exited(first, GRACE_SECONDS + EXIT_MARGIN_SECONDS)
                took = time.monotonic() - termed
            finally:
                stop(first)
            accepted_by_first = Counter(message.to for message in twilio.messages)
            at_exit = await _leased(database)
            recorded = await _recorded_sent(database)

            twilio.delay = RESUMED_PROVIDER_SECONDS
            second = start_daemon(env, second_log)
            try:
                await wait_healthy(second, port, second_log)
                await _until_reached(twilio, second)
                await _until_settled(database, second)
                at_end = await _leased(database)
            finally:
                stop(second)

    log = first_log.read_text()[-3000:]
    assert status is not None, f"still running {took:.1f} s after SIGTERM:\n{log}"
    assert status == 0, f"exit status {status} {took:.1f} s after SIGTERM:\n{log}"
    assert accepted_before < PEOPLE, "SIGTERM must land in the middle of the fan-out"
    assert not events(first_log, "lane_drain_cut_short"), log
    # Only the sends under way at SIGTERM finish: what was held and not begun went back.
    assert recorded.total() - accepted_before <= SMS_CONCURRENCY, (recorded, accepted_before)
    given = sum(int(str(event["deliveries"])) for event in events(first_log, "gave_back_at_stop"))
    assert given, log
    # Whatever the provider accepted before the exit is recorded sent, once each: the next
    # daemon has no reason to send it again.
    assert recorded == accepted_by_first, (recorded, accepted_by_first)
    # The rest is queued and leased by nobody: the next daemon claims it at once.
    assert at_exit == {"sent": recorded.total(), "queued": PEOPLE - recorded.total(), "leased": 0}
    assert at_exit["queued"], "nothing was left for the next daemon"
    sent = Counter(message.to for message in twilio.messages)
    assert len(sent) == PEOPLE, f"{PEOPLE - len(sent)} not reached:\n{second_log.read_text()}"
    assert at_end == {"sent": PEOPLE, "leased": 0}, at_end
    duplicates = sent.total() - len(sent)
    assert duplicates == 0, f"{duplicates} sent twice"
    print(
        f"\n{backend}: SIGTERM with {in_flight} SMS under way at the provider "
        f"({PROVIDER_SECONDS:g} s each), {given} held and not begun given back; exited 0 {took:.1f} s "
        f"later (grace {GRACE_SECONDS:g} s) having sent {recorded.total() - accepted_before} "
        f"more, {at_exit['queued']} left queued and unleased; the next daemon sent them: "
        f"everyone reached, {duplicates} twice"
    )
