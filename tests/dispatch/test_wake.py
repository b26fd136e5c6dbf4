"""What each of the dispatcher's wake-up calls sets going: all of it, or the senders alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select

from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Purpose
from notifier.store import alerts
from notifier.store.answer_batch import queue_notices
from notifier.store.engine import Database
from notifier.store.outbox import Notice
from notifier.store.tables import DELIVERY, RECIPIENT
from tests.dispatch.harness import ADMIN, FanOut, running_fan_out
from tests.seeding import nairobi_people, seed

POLL_SECONDS = "60"
"""The dispatcher's poll, longer than any test: what happens comes from a wake-up call."""
SENT_WITHIN_SECONDS = 10.0
ALERT = AlertRequest(
    title="Flood", message="Move to the upper floors.", stations=("NBO",), channels=(Channel.SMS,)
)


async def until(condition: Callable[[], bool], seconds: float = SENT_WITHIN_SECONDS) -> None:
    """Wait until `condition` holds, failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def deliveries(database: Database, alert_id: int) -> int:
    """How many deliveries of the alert are in the outbox."""
    query = select(func.count()).select_from(DELIVERY).where(DELIVERY.c.alert_id == alert_id)
    async with database.session(read_only=True) as session:
        return int((await session.execute(query)).scalar_one())


async def a_recipient(database: Database, alert_id: int) -> int:
    """One person the alert was sent to."""
    query = select(func.min(RECIPIENT.c.person)).where(RECIPIENT.c.alert_id == alert_id)
    async with database.session(read_only=True) as session:
        return int((await session.execute(query)).scalar_one())


async def raise_unannounced(fan_out: FanOut) -> int:
    """An alert put in the database with no wake-up call."""
    async with fan_out.database.session() as session:
        alert = await alerts.create_alert(session, ALERT, ADMIN)
    assert alert.id is not None
    return alert.id


async def test_waking_the_senders_sends_what_is_queued_and_materialises_nothing(
    database: Database,
) -> None:
    """Confirmations queued by SMS and by e-mail: `wake_senders` for SMS sends the SMS alone,
    while an alert raised meanwhile without a wake-up call stays unmaterialised; then for
    e-mail, the e-mail; `wake` then materialises the alert."""
    await seed(database, nairobi_people(3))
    async with running_fan_out(database, poll_interval_seconds=POLL_SECONDS) as fan_out:
        first = await fan_out.raise_alert(ALERT)
        await fan_out.until_dispatched(first)
        sent = len(fan_out.twilio.messages)
        waiting = await raise_unannounced(fan_out)
        person = await a_recipient(database, first)
        notices = [
            Notice(first, person, channel, Purpose.ANSWER, 1, "Recorded: safe.", "Recorded")
            for channel in (Channel.SMS, Channel.EMAIL)
        ]
        now = datetime.now(UTC)
        await database.run(lambda connection: queue_notices(connection, notices, now))

        fan_out.dispatcher.wake_senders(Channel.SMS)
        await until(lambda: len(fan_out.twilio.messages) > sent)
        await asyncio.sleep(0.5)  # time enough for a pass of materialisation, had one begun
        assert [message.body for message in fan_out.twilio.messages[sent:]] == ["Recorded: safe."]
        assert fan_out.smtp.messages == []
        assert await deliveries(database, waiting) == 0

        fan_out.dispatcher.wake_senders(Channel.EMAIL)
        await until(lambda: len(fan_out.smtp.messages) == 1)
        assert await deliveries(database, waiting) == 0

        fan_out.dispatcher.wake()
        await fan_out.until_dispatched(waiting)
        assert await deliveries(database, waiting) == 3
