"""One of three replicas SIGKILLed at random points of a fan-out, again and again: the others
send what it held, nobody is lost, and nobody gets more than the dead ones had in flight.

How long the others took to send each dead replica's deliveries is printed (docs/reliability.md);
the test passes on what happened, not on how fast. CI runs the small size; `--slow` adds the
20,000-person run.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from notifier.store import schema
from notifier.store.engine import Database
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.faults.replicas import (
    Replicas,
    duplicates,
    held_by,
    raise_alert,
    reached,
    sending_settings,
    sent,
    settle,
    still_unsent,
)
from tests.processes.daemons import ACCOUNT_SID, AUTH_TOKEN
from tests.seeding import nairobi_people, seed

REPLICAS = 3
SMS_CONCURRENCY = 8
EMAIL_POOL = 4
PROVIDER_SECONDS = 0.2
"""As real providers answer: the fan-out lasts long enough for a second kill to find work held."""
LEASE_SECONDS = 3600
"""Leases far longer than the test: only a takeover can reach a dead replica's people."""
SEEN_SECONDS = 3.0
"""How long a new replica runs before the next kill: joining others, it claims nothing for its
first 2 s (`presence.SETTLE_SECONDS`, until they can have seen it), and a kill should find it
holding deliveries."""
TAKEOVER_PATIENCE_SECONDS = 60
SETTLE_PATIENCE_SECONDS = 300


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("people", "kills", "seed_"),
    [
        pytest.param(2000, 2, 1, id="2000-people-2-kills"),
        pytest.param(20000, 4, 2, id="20000-people-4-kills", marks=pytest.mark.slow),
    ],
)
async def test_replicas_killed_at_random_points_lose_nobody(
    postgres_database: str, tmp_path: Path, people: int, kills: int, seed_: int
) -> None:
    """Three replicas send an alert by SMS and e-mail; `kills` times, at a random point, a
    random one of those holding deliveries is SIGKILLed and a fresh one started. Everyone is reached on both channels,
    each dead replica's deliveries are sent by the others, and duplicates stay within what
    the dead replicas could have had in flight."""
    chance = random.Random(seed_)
    total = 2 * people
    # Kill points: fractions of the messages sent, spread over the fan-out, in order.
    points = sorted(chance.uniform(0.1, 0.8) for _ in range(kills))
    takeovers: list[tuple[int, float]] = []
    async with Database.open(postgres_database) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(people))
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=PROVIDER_SECONDS) as twilio,
        ):
            replicas = Replicas(
                postgres_database,
                smtp,
                twilio,
                tmp_path,
                sending_settings(
                    SMS_CONCURRENCY,
                    EMAIL_POOL,
                    NOTIFIER_DISPATCH__LEASE_SECONDS=str(LEASE_SECONDS),
                ),
            )
            try:
                await replicas.start(REPLICAS)
                await raise_alert(database)
                for point in points:
                    while sent(smtp, twilio) < point * total:
                        await asyncio.sleep(0.01)
                    # A replica holding nothing (one that joined after the rest of the
                    # outbox was claimed) would prove nothing about taking over.
                    holding = [r for r in replicas.running if await held_by(database, r)]
                    victim = chance.choice(holding or replicas.running)
                    replicas.kill(victim)
                    killed = time.monotonic()
                    held = await held_by(database, victim)
                    replacing = asyncio.create_task(replicas.start())
                    while await still_unsent(database, held):
                        assert time.monotonic() - killed < TAKEOVER_PATIENCE_SECONDS, (
                            f"{await still_unsent(database, held)} of the {len(held)} "
                            f"deliveries a dead replica held were not sent in time"
                        )
                        await asyncio.sleep(0.05)
                    takeovers.append((len(held), time.monotonic() - killed))
                    await replacing
                    await asyncio.sleep(SEEN_SECONDS)
                took = await settle(database, replicas, SETTLE_PATIENCE_SECONDS)
            finally:
                replicas.stop_all()
    assert reached(smtp, twilio) == (people, people), replicas.logs()[-3000:]
    twice = duplicates(smtp, twilio)
    # Each dead replica could have had its sends under way (SMS concurrency and the e-mail
    # pool) and as many again sent but not yet written down.
    bound = kills * 2 * (SMS_CONCURRENCY + EMAIL_POOL)
    assert twice <= bound, f"{twice} messages sent twice, more than {bound}"
    assert all(count > 0 for count, _ in takeovers), (
        f"a kill landed on an idle replica: {takeovers}"
    )
    figures = ", ".join(
        f"{count} held, sent by others {seconds:.1f} s" for count, seconds in takeovers
    )
    print(
        f"\n{people} people × 2 channels, {kills} kills: {figures}; "
        f"last sent {took:.1f} s after the last takeover; lost 0; sent twice {twice} (≤ {bound})"
    )
