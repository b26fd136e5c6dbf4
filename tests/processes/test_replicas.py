"""Two daemons claiming from one PostgreSQL outbox: everyone is reached, no one twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.presence import PRESENCE_LOCK_CLASS, SETTLE_SECONDS
from notifier.store.tables import DELIVERY
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
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

PEOPLE = 400
PRESENT = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :class"
    " AND objsubid = 2 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def _may_both_claim(database: Database) -> None:
    """Wait until both replicas hold their presence, and long enough to claim: one that finds
    the other present claims nothing for `SETTLE_SECONDS`, time enough for the other to send
    all of a small alert alone."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with database.session() as session:
            present = await session.execute(PRESENT, {"class": PRESENCE_LOCK_CLASS})
            if present.scalar_one() >= 2:
                break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the two replicas never both held their presence")
    await asyncio.sleep(SETTLE_SECONDS + 0.5)


async def _pending(database: Database) -> int:
    async with database.session() as session:
        query = select(func.count()).where(DELIVERY.c.status.in_(("queued", "sending")))
        return int((await session.execute(query)).scalar_one())


@pytest.mark.postgres
async def test_two_replicas_never_send_a_delivery_twice(
    postgres_database: str, tmp_path: Path
) -> None:
    """Both daemons claim from the same outbox at once; each person gets one SMS and one e-mail."""
    async with Database.open(postgres_database) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=0.005) as twilio,
        ):
            ports = [free_port(), free_port()]
            daemons = []
            try:
                for index, port in enumerate(ports):
                    env = daemon_environment(
                        postgres_database,
                        smtp.port,
                        twilio.base_url,
                        port,
                        NOTIFIER_DISPATCH__CLAIM_BATCH="5",
                    )
                    log = tmp_path / f"daemon-{index}.log"
                    daemons.append((start_daemon(env, log), port, log))
                for process, port, log in daemons:
                    await wait_healthy(process, port, log)
                await _may_both_claim(database)
                async with database.session() as session:
                    request = AlertRequest(
                        title="Earthquake", message="Leave now.", stations=("NBO",)
                    )
                    await alerts.create_alert(session, request, Principal("officer", Role.ADMIN))
                deadline = time.monotonic() + 90
                await asyncio.sleep(1)
                while await _pending(database) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                assert await _pending(database) == 0
                async with database.session() as session:
                    total = (
                        await session.execute(select(func.count()).select_from(DELIVERY))
                    ).scalar()
                    senders = (
                        (await session.execute(select(DELIVERY.c.leased_by).distinct()))
                        .scalars()
                        .all()
                    )
                assert total == 2 * PEOPLE
                assert len(set(senders)) == 2, "both replicas must have sent part of the alert"
            finally:
                for process, _, _ in daemons:
                    stop(process)
            sms = Counter(message.to for message in twilio.messages)
            mail = Counter(message.rcpt_tos for message in smtp.messages)
    assert len(sms) == PEOPLE and max(sms.values()) == 1
    assert len(mail) == PEOPLE and max(mail.values()) == 1
