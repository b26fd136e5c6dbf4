"""The most urgent alert messages not yet sent: due or being sent count, a retry not yet due
and an answer's confirmation do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import PRIORITY_OF_KIND, AlertKind, Channel, Purpose, Role
from notifier.store import alerts, materialisation, outbox
from notifier.store.answer_batch import queue_notices
from notifier.store.engine import Database
from notifier.store.outbox import Notice
from notifier.store.unsent import most_urgent_unsent
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
DRILL = PRIORITY_OF_KIND[AlertKind.DRILL]
EMERGENCY = PRIORITY_OF_KIND[AlertKind.EMERGENCY]
ADMIN = Principal("admin", Role.ADMIN)


async def raised(database: Database, kind: AlertKind, channels: tuple[Channel, ...]) -> int:
    """An alert of `kind` to NBO, its deliveries in the outbox; its id."""
    request = AlertRequest(
        title="Fire", message="Leave.", stations=("NBO",), channels=channels, kind=kind
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
        assert alert.id is not None
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    return alert.id


async def unsent(database: Database, now: datetime = NOW) -> dict[Channel, int]:
    async with database.session(read_only=True) as session:
        return await most_urgent_unsent(session, now)


async def test_due_and_sending_messages_count_by_channel(database: Database) -> None:
    """A drill by both channels and an emergency by SMS: SMS has the emergency's priority
    while one of its messages is due or being sent, e-mail the drill's."""
    await seed(database, nairobi_people(2))
    assert await unsent(database) == {}
    await raised(database, AlertKind.DRILL, (Channel.SMS, Channel.EMAIL))
    assert await unsent(database) == {Channel.SMS: DRILL, Channel.EMAIL: DRILL}
    await raised(database, AlertKind.EMERGENCY, (Channel.SMS,))
    assert await unsent(database) == {Channel.SMS: EMERGENCY, Channel.EMAIL: DRILL}
    async with database.session() as session:  # the emergency's two, being sent
        claimed = await outbox.claim(session, Channel.SMS, 2, "w", NOW, LEASE)
    assert {delivery.priority for delivery in claimed} == {EMERGENCY}
    assert (await unsent(database))[Channel.SMS] == EMERGENCY
    async with database.session() as session:
        for delivery in claimed:
            await outbox.mark_sent(session, delivery.id, "SM1", NOW)
    assert await unsent(database) == {Channel.SMS: DRILL, Channel.EMAIL: DRILL}


async def test_a_retry_counts_once_due(database: Database) -> None:
    await seed(database, nairobi_people(1))
    await raised(database, AlertKind.EMERGENCY, (Channel.SMS,))
    async with database.session() as session:
        (delivery,) = await outbox.claim(session, Channel.SMS, 1, "w", NOW, LEASE)
        await outbox.mark_retry(session, delivery.id, "w", NOW + timedelta(minutes=1), "busy")
    assert await unsent(database) == {}
    assert await unsent(database, NOW + timedelta(minutes=1)) == {Channel.SMS: EMERGENCY}


async def test_confirmations_do_not_count(database: Database) -> None:
    """An answer's confirmation, queued as urgent as its emergency, holds back nothing."""
    await seed(database, nairobi_people(1))
    alert_id = await raised(database, AlertKind.EMERGENCY, (Channel.EMAIL,))
    async with database.session() as session:
        (delivery,) = await outbox.claim(session, Channel.EMAIL, 1, "w", NOW, LEASE)
        await outbox.mark_sent(session, delivery.id, "m1", NOW)
        notice = Notice(alert_id, delivery.person, Channel.SMS, Purpose.ANSWER, 1, "Thank you.")
        await session.run_sync(lambda sync: queue_notices(sync.connection(), [notice], NOW))
    assert await unsent(database) == {}
