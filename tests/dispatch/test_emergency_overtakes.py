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


REPLICA_RATE = 5
"""SMS a second per replica: each lane holds sixteen, three seconds' worth."""
REPLICA_CONCURRENCY = 4


@pytest.mark.postgres
async def test_a_replica_that_did_not_raise_the_emergency_sends_it_before_its_drill(
    asyncpg_database: Database,
) -> None:
    """Two replicas send a drill; an emergency is raised on one. The other hears of it at
    once: its senders take the emergency's messages before the drill deliveries it holds,
    rather than once it has sent half of them and claims again (its polls are 30 s apart)."""
    database = asyncpg_database
    await seed(database, [*nairobi_people(60), *geneva_people(24)])
    more = {
        "NOTIFIER_SMS__CONCURRENCY": str(REPLICA_CONCURRENCY),
        "NOTIFIER_SMS__RATE_PER_SECOND": str(REPLICA_RATE),
        "NOTIFIER_DISPATCH__CLAIM_BATCH": "16",
        "NOTIFIER_DISPATCH__POLL_INTERVAL_SECONDS": "30",
    }
    async with (
        running_fan_out(database, more=more, worker="raiser") as raiser,
        running_fan_out(database, more=more, worker="other") as other,
    ):
        await asyncio.sleep(SETTLE_SECONDS + 0.5)  # the other may claim by now
        drill = await raiser.raise_alert(DRILL)
        async with asyncio.timeout(10):
            while not await materialised(database, drill):
                await asyncio.sleep(0.005)
            other.dispatcher.wake()  # as if its API had been asked; of the emergency it is not
            while len(other.twilio.messages) < 4:
                await asyncio.sleep(0.005)
        before = len(other.twilio.messages)
        emergency = await raiser.raise_alert(EMERGENCY)
        await raiser.until_dispatched(emergency)
        await raiser.until_dispatched(drill)
    sent = [message.to.startswith(GENEVA_PREFIX) for message in other.twilio.messages]
    assert True in sent, "the other replica sent none of the emergency"
    first = sent.index(True)
    last = len(sent) - 1 - sent[::-1].index(True)
    drill_before_first = first - before
    drill_between = (last - first + 1) - sent.count(True)
    # One under way when it heard (at five a second), one more on a loaded machine; without
    # the news, also those of its sixteen held that it sends before it claims again (3-4
    # measured, up to 8).
    assert drill_before_first <= 2, f"{drill_before_first} drill SMS went first"
    assert drill_between <= REPLICA_CONCURRENCY, f"{drill_between} among the emergency's"
