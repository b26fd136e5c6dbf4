"""Every connection of a replica to PostgreSQL goes silent mid fan-out (its packets dropped,
as by a firewall that forgot them, no reset): the replica finds out in seconds, not in the
quarter of an hour TCP takes to give up, and reaches everyone on new connections.

The server's sessions of the silent connections, with their locks (the replica's presence
among them), end too: the server's keepalives find them dead. What the run took is printed
for docs/reliability.md; the test passes on what happened within its patience.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from notifier.store import schema
from notifier.store.engine import Database
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.faults.blackhole import Blackhole, connections_to
from tests.faults.replicas import (
    Replicas,
    duplicates,
    raise_alert,
    reached,
    sending_settings,
    sent,
    settle,
)
from tests.processes.daemons import ACCOUNT_SID, AUTH_TOKEN
from tests.seeding import nairobi_people, seed

PEOPLE = 600
SMS_CONCURRENCY = 8
EMAIL_POOL = 4
PATIENCE_SECONDS = 180
"""Far more than the replica needs (about 30 s), far less than TCP's own 15 minutes."""


@pytest.mark.postgres
async def test_a_replica_whose_database_connections_go_silent_reaches_everyone(
    postgres_database: str, tmp_path: Path
) -> None:
    """A third of the way through an alert, every connection the replica has to PostgreSQL
    drops its packets for good. It goes on over new ones: everyone has both messages, at
    most what was in flight twice."""
    server_port = make_url(postgres_database).port or 5432
    async with Database.open(postgres_database) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=0.05) as twilio,
        ):
            replicas = Replicas(
                postgres_database,
                smtp,
                twilio,
                tmp_path,
                sending_settings(SMS_CONCURRENCY, EMAIL_POOL, NOTIFIER_LOGGING__LEVEL="info"),
            )
            with Blackhole() as blackhole:
                try:
                    await replicas.start(1)
                    (replica,) = replicas.running
                    await raise_alert(database)
                    while sent(smtp, twilio) < 2 * PEOPLE // 3:
                        await asyncio.sleep(0.01)
                    silenced = connections_to(replica.process.pid, server_port)
                    for port in silenced:
                        blackhole.silence(port, server_port)
                    silent_at, at_silence = time.monotonic(), sent(smtp, twilio)
                    await asyncio.sleep(1)  # what was already on its way arrives
                    stalled_at = sent(smtp, twilio)
                    while sent(smtp, twilio) == stalled_at:
                        await asyncio.sleep(0.05)
                        assert time.monotonic() - silent_at < PATIENCE_SECONDS, "never resumed"
                    resumed = time.monotonic() - silent_at
                    took = await settle(database, replicas, PATIENCE_SECONDS)
                    alive = replica.process.poll() is None
                finally:
                    replicas.stop_all()
    logs = replicas.logs()
    assert silenced, "the replica had no connection to PostgreSQL to silence"
    assert alive, f"the replica died:\n{logs[-3000:]}"
    assert reached(smtp, twilio) == (PEOPLE, PEOPLE), logs[-3000:]
    twice = duplicates(smtp, twilio)
    bound = SMS_CONCURRENCY + EMAIL_POOL
    assert twice <= bound, f"{twice} messages sent twice, more than the {bound} in flight"
    print(
        f"\n{PEOPLE} people × 2 channels, the replica's {len(silenced)} connections to "
        f"PostgreSQL silenced at {at_silence} sent; sending resumed {resumed:.1f} s later, "
        f"all settled {took:.1f} s after that; lost 0; sent twice {twice} (≤ {bound})"
    )
