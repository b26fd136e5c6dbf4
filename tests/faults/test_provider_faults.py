"""Both providers failing mid fan-out: everyone is reached, nobody is failed for it, and the
duplicates stay within what was in flight. The figures are printed (docs/reliability.md); the
test passes on what happened, not on how fast."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import Failure, FakeTwilioServer
from tests.faults.replicas import duplicates, reached, sent
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.seeding import nairobi_people, seed

POSTGRES_PEOPLE = 1000
SQLITE_PEOPLE = 600
"""CI's sizes: each run about 20 s on a busy 2-core machine (two replicas on PostgreSQL, one
daemon on SQLite, each sending about 100 messages a second there)."""
FULL_SIZE = 10_000
"""The size of the runs marked slow, on either database."""
SMS_CONCURRENCY = 8
EMAIL_POOL = 8
"""Per daemon: the sends each can have under way on each channel."""
PROVIDER_SECONDS = 0.005
TWILIO_FAILING = 0.3
TWILIO_SEED = 15
OUTAGE_AFTER = 0.25
"""The relay goes down once this share of the e-mails is in."""
DROP_SECONDS = 2.0
"""First the relay drops every connection, and every message at DATA, unanswered..."""
REFUSE_SECONDS = 3.0
"""...then it answers 421 to every greeting and DATA, closing the connection; then recovers."""
BACKOFF_MAX_SECONDS = 2.0
"""The retries' waits compressed like the daemons' 0.1 s backoff base (production: 2 s and
300 s): a delivery unlucky many times in a row waits seconds, not minutes."""
MAX_ATTEMPTS = 30
"""Far more than these faults can use up, so a delivery left failed would be a bug. An SMS
fails each attempt with probability 0.3: 30 times in a row, 0.3^30, about 2e-16 (with the
default of 5 attempts, 0.3^5: one SMS in 400). An e-mail fails every attempt while the relay
is down, waiting at least half of min(0.1 s × 2^(n−1), 2 s) after its n-th: about 5 attempts
in the first 1.5 s, then one a second, at most about 9 in the 5 s outage. (Measured: 2, since
claims take the earliest due first: a failed e-mail's turn comes again after the backlog.)"""
LEASE_SECONDS = 30
"""Longer than any send here: a lease running out is not what these faults test."""
PATIENCE_SECONDS = 180
FULL_SIZE_PATIENCE_SECONDS = 600


async def _relay_outage(smtp: FakeSmtpServer, after: int) -> tuple[int, int]:
    """Once `after` e-mails are in, the relay drops connections, then answers 421, then
    recovers; how many e-mails were in when it went down and when it recovered."""
    while smtp.received < after:
        await asyncio.sleep(0.01)
    went_down = smtp.received
    smtp.close_client_connections()
    smtp.drop_on_data(seconds=DROP_SECONDS)
    await asyncio.sleep(DROP_SECONDS)
    smtp.refuse_service(seconds=REFUSE_SECONDS)
    smtp.close_client_connections()
    await asyncio.sleep(REFUSE_SECONDS)
    return went_down, smtp.received


async def _statuses(database: Database) -> dict[str, int]:
    async with database.session(read_only=True) as session:
        query = select(DELIVERY.c.status, func.count()).group_by(DELIVERY.c.status)
        return {status: count for status, count in (await session.execute(query)).all()}


async def _most_attempts(database: Database) -> dict[str, int]:
    """The most attempts any delivery took, by channel."""
    async with database.session(read_only=True) as session:
        query = select(DELIVERY.c.channel, func.max(DELIVERY.c.attempts)).group_by(
            DELIVERY.c.channel
        )
        return {channel: most for channel, most in (await session.execute(query)).all()}


async def _until_reached(
    smtp: FakeSmtpServer,
    twilio: FakeTwilioServer,
    people: int,
    daemons: list[subprocess.Popen[bytes]],
    patience: float,
) -> None:
    deadline = time.monotonic() + patience
    while reached(smtp, twilio) != (people, people) and time.monotonic() < deadline:
        if any(process.poll() is not None for process in daemons):
            return
        await asyncio.sleep(0.05)


async def _until_settled(database: Database, daemons: list[subprocess.Popen[bytes]]) -> None:
    """Until no delivery is queued or being sent (the last outcomes written)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline and all(process.poll() is None for process in daemons):
        statuses = await _statuses(database)
        if not statuses.get("queued") and not statuses.get("sending"):
            return
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("database_url", "people"),
    [
        pytest.param("postgresql", POSTGRES_PEOPLE, marks=pytest.mark.postgres),
        pytest.param("sqlite", SQLITE_PEOPLE),
        pytest.param("postgresql", FULL_SIZE, marks=[pytest.mark.postgres, pytest.mark.slow]),
        pytest.param("sqlite", FULL_SIZE, marks=pytest.mark.slow),
    ],
    indirect=["database_url"],
)
async def test_providers_failing_mid_fan_out_lose_nobody(
    database_url: str, people: int, tmp_path: Path
) -> None:
    """The relay drops connections then answers 421 for 5 s, Twilio answers 429 or 500 to
    30 % of requests throughout: two replicas on PostgreSQL (one daemon on SQLite) reach
    everyone on both channels, no delivery is left failed, and no more are sent twice than
    the replicas can have had in flight."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    replicas = 1 if backend == "sqlite" else 2
    patience = FULL_SIZE_PATIENCE_SECONDS if people == FULL_SIZE else PATIENCE_SECONDS
    async with Database.open(database_url) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(people))
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=PROVIDER_SECONDS) as twilio,
        ):
            twilio.fail_fraction(
                TWILIO_FAILING, [Failure.RATE_LIMITED, Failure.SERVER_ERROR], seed=TWILIO_SEED
            )
            daemons: list[subprocess.Popen[bytes]] = []
            logs = [tmp_path / f"daemon-{index}.log" for index in range(replicas)]
            ports = [free_port() for _ in logs]
            outage: asyncio.Task[tuple[int, int]] | None = None
            try:
                for log, port in zip(logs, ports, strict=True):
                    env = daemon_environment(
                        database_url,
                        smtp.port,
                        twilio.base_url,
                        port,
                        NOTIFIER_SMS__CONCURRENCY=str(SMS_CONCURRENCY),
                        NOTIFIER_EMAIL__POOL_SIZE=str(EMAIL_POOL),
                        NOTIFIER_DISPATCH__LEASE_SECONDS=str(LEASE_SECONDS),
                        NOTIFIER_DISPATCH__MAX_ATTEMPTS=str(MAX_ATTEMPTS),
                        NOTIFIER_DISPATCH__BACKOFF_MAX_SECONDS=str(BACKOFF_MAX_SECONDS),
                    )
                    daemons.append(start_daemon(env, log))
                for process, port, log in zip(daemons, ports, logs, strict=True):
                    await wait_healthy(process, port, log)
                outage = asyncio.create_task(_relay_outage(smtp, int(people * OUTAGE_AFTER)))
                raised = time.monotonic()
                async with database.session() as session:
                    alert = AlertRequest(
                        title="Earthquake", message="Leave now.", stations=("NBO",)
                    )
                    await alerts.create_alert(session, alert, Principal("officer", Role.ADMIN))
                await _until_reached(smtp, twilio, people, daemons, patience)
                took = time.monotonic() - raised
                await _until_settled(database, daemons)
                running = [process.poll() is None for process in daemons]
                statuses = await _statuses(database)
                attempts = await _most_attempts(database)
                in_at_outage, in_at_recovery = await outage if outage.done() else (0, people)
            finally:
                if outage is not None:
                    outage.cancel()
                for process in daemons:
                    process.terminate()  # all at once: they stop side by side
                for process in daemons:
                    stop(process)
    tails = "\n".join(log.read_text()[-2000:] for log in logs)
    assert all(running), f"a daemon exited during the fan-out:\n{tails}"
    sms, mail = reached(smtp, twilio)
    assert (people - sms, people - mail) == (0, 0), f"not reached {took:.0f} s on:\n{tails}"
    # Nothing left failed (nor queued, nor being sent): every delivery was sent.
    assert statuses == {"sent": 2 * people}, statuses
    assert in_at_recovery < people, "the relay must go down and recover mid fan-out"
    assert smtp.dropped and smtp.refused_service, (smtp.dropped, smtp.refused_service)
    assert twilio.answered[429] and twilio.answered[500], twilio.answered
    twice = duplicates(smtp, twilio)
    # A message is sent twice only when the provider accepted it and its delivery went back
    # to the queue before the outcome was written (a lease run out, a replica taken for
    # gone). A lane holds at most `concurrency` sends under way and as many again whose
    # outcome is being written (docs/fan-out.md, "What a crash costs"), so at most that,
    # for each lane of each replica. The faults here fail sends before the provider accepts
    # them, so none is expected.
    bound = replicas * 2 * (SMS_CONCURRENCY + EMAIL_POOL)
    assert twice <= bound, f"{twice} sent twice (at most {bound} in flight)"
    failures = twilio.answered[429] + twilio.answered[500]
    print(
        f"\n{backend}, {replicas} daemon(s), {people} people: all reached on both channels "
        f"{took:.1f} s after the alert, {sent(smtp, twilio)} sent, {twice} twice; Twilio answered "
        f"429 {twilio.answered[429]} and 500 {twilio.answered[500]} times "
        f"({failures / twilio.requests:.0%} of {twilio.requests} requests); the relay, down "
        f"{DROP_SECONDS + REFUSE_SECONDS:g} s once {in_at_outage} e-mails were in, dropped "
        f"{smtp.dropped} at DATA and answered 421 {smtp.refused_service} times, "
        f"{in_at_recovery} in when it recovered; at most {attempts['sms']} attempts for an "
        f"SMS, {attempts['email']} for an e-mail"
    )
