"""An emergency raised while a drill is being sent overtakes what the drill has claimed."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from notifier.alert_request import AlertRequest
from notifier.domain import AlertKind, Channel
from notifier.store.engine import Database
from notifier.store.presence import SETTLE_SECONDS
from notifier.store.tables import ALERT
from tests.dispatch.harness import running_fan_out
from tests.seeding import nairobi_people, seed

DRILL_PEOPLE = 120
EMERGENCY_PEOPLE = 10
CONCURRENCY = 8
RATE = 20
"""SMS a second: the lane holds at least four per sender, here more than a second's worth."""
SLACK = 2 * RATE
"""Drill SMS that may still go out once the emergency is raised: those sent while it is put
in the outbox and claimed, on a loaded machine up to two seconds' worth (the drill's
held ones, about 100, would all go first if the emergency's waited their turn)."""
GENEVA_PREFIX = "+4179"
DRILL = AlertRequest(
    title="Drill",
    message="This is a drill.",
    stations=("NBO",),
    channels=(Channel.SMS,),
    kind=AlertKind.DRILL,
)
EMERGENCY = AlertRequest(
    title="Earthquake", message="Leave the building.", stations=("GVA",), channels=(Channel.SMS,)
)


async def materialised(database: Database, alert_id: int) -> bool:
    """Whether every recipient of the alert has its deliveries in the outbox."""
    query = select(ALERT.c.materialised_at).where(ALERT.c.id == alert_id)
    async with database.session(read_only=True) as session:
        return (await session.execute(query)).scalar() is not None


def geneva_people(count: int) -> list[str]:
    """`count` people at GVA with a phone (numbers starting GENEVA_PREFIX)."""
    return [
        f"G{index:05d},Personne {index},g{index}@example.org,{GENEVA_PREFIX}{index:07d},GVA,fr,"
        for index in range(count)
    ]


async def test_an_emergency_is_sent_before_the_drill_deliveries_already_claimed(
    database: Database,
) -> None:
    """The drill's lane holds more than a second's worth of claimed deliveries when the
    emergency comes; the emergency's messages go before them: few drill SMS reach the
    provider between the emergency and its first message, and none among its messages but
    those under way."""
    await seed(database, [*nairobi_people(DRILL_PEOPLE), *geneva_people(EMERGENCY_PEOPLE)])
    more = {
        "NOTIFIER_SMS__CONCURRENCY": str(CONCURRENCY),
        "NOTIFIER_SMS__RATE_PER_SECOND": str(RATE),
    }
    async with running_fan_out(database, more=more) as fan_out:
        drill = await fan_out.raise_alert(DRILL)
        # The whole drill in the outbox, and its lane sending, holding what it has claimed.
        while not await materialised(database, drill) or len(fan_out.twilio.messages) < RATE:
            await asyncio.sleep(0.005)
        before = len(fan_out.twilio.messages)
        emergency = await fan_out.raise_alert(EMERGENCY)
        await fan_out.until_dispatched(emergency)
        await fan_out.until_dispatched(drill)
    sent = [message.to.startswith(GENEVA_PREFIX) for message in fan_out.twilio.messages]
    assert sent.count(True) == EMERGENCY_PEOPLE
    assert sent.count(False) == DRILL_PEOPLE
    first = sent.index(True)
    last = len(sent) - 1 - sent[::-1].index(True)
    drill_before_first = first - before
    drill_between = (last - first + 1) - EMERGENCY_PEOPLE
    assert drill_before_first <= SLACK, f"{drill_before_first} drill SMS went first"
    assert drill_between <= CONCURRENCY, f"{drill_between} drill SMS among the emergency's"


REPLICA_RATE = 3
"""SMS a second per replica: the raiser claims sixteen of the emergency at once and claims
again once it has sent eight, nearly three seconds later."""


@pytest.mark.postgres
async def test_another_replica_hears_of_an_emergency_at_once(asyncpg_database: Database) -> None:
    """An emergency is raised on one of two replicas, both idle, each looking for work of its
    own accord only every 30 s: the other hears of it at once and sends part of it, rather
    than leaving it all to the first for its next poll."""
    database = asyncpg_database
    await seed(database, geneva_people(40))
    more = {
        "NOTIFIER_SMS__CONCURRENCY": "4",
        "NOTIFIER_SMS__RATE_PER_SECOND": str(REPLICA_RATE),
        "NOTIFIER_DISPATCH__CLAIM_BATCH": "16",
        "NOTIFIER_DISPATCH__POLL_INTERVAL_SECONDS": "30",
    }
    async with (
        running_fan_out(database, more=more, worker="raiser") as raiser,
        running_fan_out(database, more=more, worker="other") as other,
    ):
        await asyncio.sleep(SETTLE_SECONDS + 0.5)  # the other may claim by now
        emergency = await raiser.raise_alert(EMERGENCY)
        await raiser.until_dispatched(emergency)
    by_raiser, by_other = len(raiser.twilio.messages), len(other.twilio.messages)
    assert by_raiser + by_other == 40
    assert by_other >= 8, f"the other replica sent {by_other} of 40"
