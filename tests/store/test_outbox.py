"""The outbox on both databases: audience into deliveries once, exclusive claims, outcomes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import AlertKind, AlertStatus, Channel, DeliveryStatus, Role
from notifier.errors import FieldError, ForbiddenError
from notifier.store import alerts, materialisation, outbox, sending
from notifier.store.engine import Database
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT
from tests.leases import database_clock, end_leases
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.ADMIN)
LEASE = timedelta(seconds=60)


async def _raise(database: Database, **fields: object) -> int:
    request = AlertRequest(title="Earthquake", message="Leave the building.", **fields)  # type: ignore[arg-type]
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    return alert.id


async def _materialise_all(database: Database, alert_id: int, batch: int = 1000) -> int:
    batches = 0
    while True:
        async with database.session() as session:
            result = await materialisation.materialise_batch(session, alert_id, batch, NOW)
        batches += 1
        if result.finished:
            return batches


async def _count(database: Database, table: object, *where: object) -> int:
    async with database.session() as session:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return int((await session.execute(query)).scalar_one())


async def test_person_in_two_targets_is_reached_once(database: Database) -> None:
    """A person named by station, by group and by id gets one delivery per channel."""
    await seed(
        database,
        [
            "P1,Amina Yusuf,amina@example.org,+254722000001,NBO,en,wardens;security-focal-points",
            "P2,Hélène Dubois,helene@example.org,,GVA,fr,wardens",
            "P3,Ivan Petrov,,+41791234567,GVA,ru,",
        ],
    )
    alert_id = await _raise(
        database,
        stations=("NBO", "GVA"),
        groups=("wardens", "security-focal-points"),
        people=("P1", "P3"),
    )
    await _materialise_all(database, alert_id, batch=1)
    async with database.session() as session:
        rows = (await session.execute(select(DELIVERY.c.person, DELIVERY.c.channel))).all()
        recipients = (
            await session.execute(select(ALERT.c.recipients).where(ALERT.c.id == alert_id))
        ).scalar()
    assert sorted((person, channel) for person, channel in rows) == [
        (1, "email"),
        (1, "sms"),
        (2, "email"),
        (3, "sms"),
    ]
    assert recipients == 3


async def test_inactive_and_opted_out_are_skipped_and_counted(database: Database) -> None:
    """Deactivated people get nothing; an opted-out number gets no SMS but the e-mail still goes."""
    await seed(database, nairobi_people(4))
    async with database.session() as session:
        await session.execute(
            update(PERSON).where(PERSON.c.person_id == "N00000").values(active=False)
        )
        await session.execute(
            update(PERSON).where(PERSON.c.person_id == "N00001").values(sms_opted_out=True)
        )
    alert_id = await _raise(database, stations=("NBO",))
    await _materialise_all(database, alert_id, batch=3)
    async with database.session() as session:
        row = (await session.execute(select(ALERT).where(ALERT.c.id == alert_id))).one()
    assert (row.recipients, row.skipped_inactive, row.skipped_opted_out) == (3, 1, 1)
    assert await _count(database, DELIVERY) == 5


async def test_materialisation_resumes_without_duplicates(database: Database) -> None:
    """Batches after a crash continue from the cursor; running a batch twice adds nothing."""
    await seed(database, nairobi_people(25))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    async with database.session() as session:
        first = await materialisation.materialise_batch(session, alert_id, 10, NOW)
    assert (first.recipients, first.finished) == (10, False)
    batches = await _materialise_all(database, alert_id, batch=10)
    assert batches == 2
    assert await _count(database, DELIVERY) == 25
    assert await _count(database, RECIPIENT) == 25
    async with database.session() as session:
        again = await materialisation.materialise_batch(session, alert_id, 10, NOW)
    assert again.deliveries == 0


async def test_claims_are_exclusive_and_emergencies_first(database: Database) -> None:
    """Two workers claiming at once never get the same delivery; emergencies come before drills."""
    await seed(database, nairobi_people(30))
    drill = await _raise(database, stations=("NBO",), channels=(Channel.SMS,), kind=AlertKind.DRILL)
    emergency = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    for alert_id in (drill, emergency):
        await _materialise_all(database, alert_id)

    async def worker(name: str) -> list[sending.ClaimedDelivery]:
        claimed: list[sending.ClaimedDelivery] = []
        while True:
            async with database.session() as session:
                batch = await outbox.claim(session, Channel.SMS, 7, name, NOW, LEASE)
            if not batch:
                return claimed
            assert len(batch) <= 7
            claimed.extend(batch)

    first, second = await asyncio.gather(worker("a"), worker("b"))
    ids = [delivery.id for delivery in first + second]
    assert len(ids) == len(set(ids)) == 60
    async with database.session() as session:
        another = await outbox.claim(session, Channel.SMS, 10, "c", NOW, LEASE)
    assert another == []
    order = sorted(first + second, key=lambda d: d.id)
    assert all(d.attempts == 1 for d in order)
    # The first claim of worker "a" or "b" took emergency deliveries only.
    assert {d.alert_id for d in (first[:7] or second[:7])} == {emergency}


async def test_future_retries_are_not_claimed_early(database: Database) -> None:
    """A delivery scheduled for later is not due now."""
    await seed(database, nairobi_people(1))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        (delivery,) = await outbox.claim(session, Channel.SMS, 5, "w", NOW, LEASE)
        await outbox.mark_retry(session, delivery.id, "w", NOW + timedelta(seconds=30), "busy")
    async with database.session() as session:
        assert await outbox.claim(session, Channel.SMS, 5, "w", NOW, LEASE) == []
        later = await outbox.claim(session, Channel.SMS, 5, "w", NOW + timedelta(seconds=31), LEASE)
    assert [(d.id, d.attempts) for d in later] == [(delivery.id, 2)]


async def test_expired_lease_comes_back(database: Database) -> None:
    """A delivery claimed by a worker that died is claimable again once its lease has run out
    on the database's clock; the caller's clock being past it does not end it."""
    await seed(database, nairobi_people(1))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        (claimed,) = await outbox.claim(session, Channel.SMS, 5, "dead", NOW, LEASE)
    async with database.session() as session:
        assert await outbox.reclaim_expired(session, NOW + timedelta(seconds=61), 5) == 0
    await end_leases(database, [claimed.id])
    async with database.session() as session:
        assert await outbox.reclaim_expired(session, NOW, 5) == 1
        again = await outbox.claim(session, Channel.SMS, 5, "alive", NOW, LEASE)
    assert [delivery.id for delivery in again] == [claimed.id]


async def test_deliveries_given_back_are_claimed_again_first_their_attempt_uncounted(
    database: Database,
) -> None:
    """Deliveries a worker gives back unsent are queued as they were: claimed again before
    those queued after them, their attempt not counted; another worker's are not touched."""
    await seed(database, nairobi_people(4))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        mine = await outbox.claim(session, Channel.SMS, 2, "mine", NOW, LEASE)
        theirs = await outbox.claim(session, Channel.SMS, 1, "theirs", NOW, LEASE)
    ids = [delivery.id for delivery in mine + theirs]
    async with database.session() as session:
        assert await outbox.give_back(session, ids, "mine") == 2
    async with database.session() as session:
        again = await outbox.claim(session, Channel.SMS, 3, "other", NOW, LEASE)
    assert [(d.id, d.attempts) for d in again[:2]] == [(d.id, 1) for d in mine]
    assert (await _lease_of(database, theirs[0].id))[:2] == ("sending", "theirs")


async def _lease_of(database: Database, delivery_id: int) -> tuple[str, str | None, datetime]:
    """The delivery's status, who holds it and when its lease ends."""
    c = DELIVERY.c
    async with database.session() as session:
        row = (
            await session.execute(
                select(c.status, c.leased_by, c.lease_expires_at).where(c.id == delivery_id)
            )
        ).one()
    return row.status, row.leased_by, row.lease_expires_at


async def test_a_replica_an_hour_ahead_takes_no_live_lease(database: Database) -> None:
    """A replica whose clock is an hour ahead of the database's finds no lease run out that
    the database's clock says is running: the live worker keeps its delivery."""
    await seed(database, nairobi_people(1))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    now = await database_clock(database)
    async with database.session() as session:
        (claimed,) = await outbox.claim(session, Channel.SMS, 5, "alive", now, LEASE)
    ahead = now + timedelta(hours=1)
    async with database.session() as session:
        assert await outbox.reclaim_expired(session, ahead, 5) == 0
        assert await outbox.claim(session, Channel.SMS, 5, "ahead", ahead, LEASE) == []
    assert (await _lease_of(database, claimed.id))[:2] == ("sending", "alive")


async def test_a_replica_an_hour_behind_grants_a_lease_from_the_databases_clock(
    database: Database,
) -> None:
    """A replica whose clock is an hour behind the database's claims a lease that runs for
    its length from the database's time, not one already over: nobody takes it back."""
    await seed(database, nairobi_people(1))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    before = await database_clock(database)
    async with database.session() as session:
        (claimed,) = await outbox.claim(
            session, Channel.SMS, 5, "behind", before - timedelta(hours=1), LEASE
        )
    after = await database_clock(database)
    status, holder, ends = await _lease_of(database, claimed.id)
    assert (status, holder) == ("sending", "behind")
    assert before + LEASE <= ends <= after + LEASE
    assert claimed.lease_until == before - timedelta(hours=1) + LEASE  # its own reckoning
    async with database.session() as session:
        assert await outbox.reclaim_expired(session, after, 5) == 0


async def test_leases_written_by_a_replica_of_the_earlier_version_still_compare(
    database: Database,
) -> None:
    """A lease an earlier version wrote from its own clock (on SQLite, SQLAlchemy's text of
    the time) is compared right with the database's clock: run out a minute ago, it is
    taken back; ending in a minute, it is not."""
    await seed(database, nairobi_people(2))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        ended, running = await outbox.claim(session, Channel.SMS, 5, "old", NOW, LEASE)
    now = await database_clock(database)
    for delivery, lease_end in ((ended, now - LEASE), (running, now + LEASE)):
        async with database.session() as session:
            await session.execute(
                update(DELIVERY)
                .where(DELIVERY.c.id == delivery.id)
                .values(lease_expires_at=lease_end)
            )
    async with database.session() as session:
        assert await outbox.reclaim_expired(session, NOW, 5) == 1
    assert (await _lease_of(database, ended.id))[:2] == ("queued", None)
    assert (await _lease_of(database, running.id))[:2] == ("sending", "old")


async def test_permanent_failure_fails_over_to_the_other_channel(database: Database) -> None:
    """An SMS-only alert whose SMS fails permanently is queued by e-mail for that person."""
    await seed(database, nairobi_people(1))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        (delivery,) = await outbox.claim(session, Channel.SMS, 5, "w", NOW, LEASE)
        assert await outbox.mark_failed(session, delivery, "21211: invalid number", NOW)
    async with database.session() as session:
        (email,) = await outbox.claim(session, Channel.EMAIL, 5, "w", NOW, LEASE)
        assert not await outbox.mark_failed(session, email, "550: no such user", NOW)
    assert email.person == delivery.person


async def test_alert_settles_when_every_delivery_has(database: Database) -> None:
    """An alert stays dispatching while anything is queued or sending, then becomes dispatched."""
    await seed(database, nairobi_people(2))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        claimed = await outbox.claim(session, Channel.SMS, 5, "w", NOW, LEASE)
        await outbox.mark_sent(session, claimed[0].id, "SM1", NOW)
        assert await outbox.settle_alerts(session, NOW) == 0
        await outbox.mark_sent(session, claimed[1].id, "SM2", NOW)
        assert await outbox.settle_alerts(session, NOW) == 1
        status = (await session.execute(select(ALERT.c.status))).scalar()
    assert status == AlertStatus.DISPATCHED


async def test_cancel_stops_queued_deliveries(database: Database) -> None:
    """Cancelling an alert cancels what is still queued; nothing more can be claimed."""
    await seed(database, nairobi_people(3))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        await outbox.claim(session, Channel.SMS, 1, "w", NOW, LEASE)
        await alerts.cancel_alert(session, alert_id, ADMIN)
    async with database.session() as session:
        assert await outbox.claim(session, Channel.SMS, 5, "w", NOW, LEASE) == []
    cancelled = await _count(
        database, DELIVERY, DELIVERY.c.status == DeliveryStatus.CANCELLED.value
    )
    assert cancelled == 2


async def test_intake_checks_names_and_scope(database: Database) -> None:
    """Unknown stations, groups and people are refused by field; officers stay in their stations."""
    await seed(database, nairobi_people(1, groups="wardens"))
    officer = Principal("geneva", Role.OFFICER, frozenset({"GVA"}))
    request = AlertRequest(title="t", message="m", stations=("NBO",))
    async with database.session() as session:
        with pytest.raises(ForbiddenError):
            await alerts.create_alert(session, request, officer)
        for bad, field in (
            (AlertRequest(title="t", message="m", stations=("XYZ",)), "stations"),
            (AlertRequest(title="t", message="m", stations=("NBO",), groups=("nobody",)), "groups"),
            (AlertRequest(title="t", message="m", people=("P404",)), "people"),
        ):
            with pytest.raises(FieldError) as raised:
                await alerts.create_alert(session, bad, ADMIN)
            assert raised.value.field == field


async def test_recording_sent_messages_writes_each_ones_provider_id_and_time(
    database: Database,
) -> None:
    """`Database.run(mark_sent)` records many at once; a delivered one is not moved back."""
    await seed(database, nairobi_people(3))
    alert_id = await _raise(database, stations=("NBO",), channels=(Channel.SMS,))
    await _materialise_all(database, alert_id)
    async with database.session() as session:
        first, second, third = await outbox.claim(session, Channel.SMS, 5, "w", NOW, LEASE)
        await session.execute(
            update(DELIVERY).where(DELIVERY.c.id == third.id).values(status="delivered")
        )
    sent_at = NOW + timedelta(seconds=3, microseconds=250)
    sent = [(first.id, "SM-first"), (second.id, "SM-second"), (third.id, "SM-third")]
    await database.run(lambda connection: sending.mark_sent(connection, sent, sent_at))
    c = DELIVERY.c
    async with database.session() as session:
        query = select(c.id, c.status, c.provider_id, c.sent_at, c.lease_expires_at, c.leased_by)
        rows = {row.id: row for row in (await session.execute(query)).all()}
    assert rows[first.id][1:] == ("sent", "SM-first", sent_at, None, "w")
    assert rows[second.id][1:] == ("sent", "SM-second", sent_at, None, "w")
    assert rows[third.id].status == "delivered"
    assert rows[third.id].provider_id is None
