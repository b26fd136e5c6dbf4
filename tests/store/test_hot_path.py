"""The dispatcher's claims and records through `hot_path`: on PostgreSQL straight to asyncpg
(`sending_postgres`), on SQLite through `sending`'s Core statements; the same results."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import AlertKind, Channel, DeliveryStatus, Purpose, Role
from notifier.store import alerts, hot_path, materialisation, outbox
from notifier.store.engine import Database
from notifier.store.outage import is_unavailable
from notifier.store.sending import Claim, ClaimedDelivery, SentMessage
from notifier.store.tables import DELIVERY, PERSON
from tests.leases import database_clock
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.ADMIN)
LEASE = timedelta(seconds=60)


async def raise_alert(database: Database, kind: AlertKind = AlertKind.EMERGENCY) -> int:
    """An SMS alert to NBO, its deliveries in the outbox; its id."""
    request = AlertRequest(
        title="Earthquake",
        message="Leave the building.",
        stations=("NBO",),
        channels=(Channel.SMS,),
        kind=kind,
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    while True:
        async with database.session() as session:
            done = await materialisation.materialise_batch(session, alert.id, 1000, NOW)
        if done.finished:
            return alert.id


async def claim(
    database: Database, limit: int, worker: str = "w", known: frozenset[int] = frozenset()
) -> Claim:
    """Claim SMS deliveries due at NOW through the hot path."""
    return await hot_path.claim_with_details(
        database, Channel.SMS, limit, worker, NOW, LEASE, known_alerts=known
    )


def test_postgresql_through_asyncpg_goes_straight_to_the_driver(database: Database) -> None:
    """The direct path is taken on PostgreSQL through asyncpg, and only there."""
    direct = database.direct is not None
    assert direct == (database.engine.dialect.name == "postgresql")


async def test_a_claim_brings_the_people_and_the_unseen_alerts(database: Database) -> None:
    """Each delivery leased once to the worker, with its person's contact details and
    language; an alert's row comes with the first claim that does not know it."""
    await seed(database, nairobi_people(5))
    alert_id = await raise_alert(database)
    first = await claim(database, 3)
    assert [d.alert_id for d in first.deliveries] == [alert_id] * 3
    assert all(d.attempts == 1 and d.purpose is Purpose.ALERT for d in first.deliveries)
    assert all(d.lease_until == NOW + LEASE for d in first.deliveries)
    async with database.session() as session:
        rows = (await session.execute(select(PERSON.c.id, PERSON.c.phone, PERSON.c.email))).all()
    contacts = {row.id: (row.phone, row.email) for row in rows}
    for delivery in first.deliveries:
        pk, phone, email, language = first.people[delivery.person]
        assert pk == delivery.person
        assert (phone, email) == contacts[delivery.person]
        assert language == "en"
    (row,) = first.alerts.values()
    assert (row.id, row.title, row.kind, row.status) == (
        alert_id,
        "Earthquake",
        "emergency",
        "dispatching",
    )
    assert row.created_at.tzinfo is not None
    assert first.several == set()
    second = await claim(database, 10, known=frozenset({alert_id}))
    assert len(second.deliveries) == 2
    assert second.alerts == {}
    assert {d.id for d in first.deliveries}.isdisjoint(d.id for d in second.deliveries)
    assert (await claim(database, 10)).deliveries == []


@pytest.mark.parametrize(
    "off_by", [timedelta(hours=1), timedelta(hours=-1)], ids=["ahead", "behind"]
)
async def test_a_claimer_off_by_an_hour_is_leased_from_the_databases_clock(
    database: Database, off_by: timedelta
) -> None:
    """A replica whose clock is an hour ahead of the database's or behind it is given a lease
    of its length from the database's time, in the claim's one statement: another replica
    an hour ahead does not take it back, and it does not end an hour late."""
    await seed(database, nairobi_people(2))
    await raise_alert(database)
    before = await database_clock(database)
    claimer_now = before + off_by
    taken = await hot_path.claim_with_details(
        database, Channel.SMS, 5, "off", claimer_now, LEASE, known_alerts=frozenset()
    )
    after = await database_clock(database)
    assert len(taken.deliveries) == 2
    assert all(d.lease_until == claimer_now + LEASE for d in taken.deliveries)  # its reckoning
    async with database.session() as session:
        rows = (await session.execute(select(DELIVERY.c.status, DELIVERY.c.lease_expires_at))).all()
        ahead = after + timedelta(hours=1)
        assert await outbox.reclaim_expired(session, ahead, max_attempts=5) == 0
    for status, ends in rows:
        assert status == DeliveryStatus.SENDING
        assert before + LEASE <= ends <= after + LEASE


async def test_claims_side_by_side_never_share_and_emergencies_go_first(
    database: Database,
) -> None:
    """Two workers claiming at once never get the same delivery; the emergency's deliveries
    are claimed before the drill's, which was raised first."""
    await seed(database, nairobi_people(30))
    await raise_alert(database, AlertKind.DRILL)
    emergency = await raise_alert(database)

    async def worker(name: str) -> list[ClaimedDelivery]:
        claimed: list[ClaimedDelivery] = []
        while batch := (await claim(database, 7, name)).deliveries:
            assert len(batch) <= 7
            claimed.extend(batch)
        return claimed

    first, second = await asyncio.gather(worker("a"), worker("b"))
    ids = [delivery.id for delivery in first + second]
    assert len(ids) == len(set(ids)) == 60
    assert {d.alert_id for d in (first[:7] or second[:7])} == {emergency}


async def test_people_sent_two_open_alerts_are_named(database: Database) -> None:
    """With two alerts open to the same people, a claim names those who have both (their SMS
    then names the alert)."""
    await seed(database, nairobi_people(2))
    await raise_alert(database)
    await raise_alert(database)
    taken = await claim(database, 10)
    assert len(taken.deliveries) == 4
    assert taken.several == {d.person for d in taken.deliveries}


async def test_sent_messages_are_recorded_with_their_price(database: Database) -> None:
    """Many sent messages in one record, each with its provider id, segments and price; one
    already delivered is not moved back."""
    await seed(database, nairobi_people(3))
    await raise_alert(database)
    first, second, third = (await claim(database, 5)).deliveries
    async with database.session() as session:
        await session.execute(
            update(DELIVERY).where(DELIVERY.c.id == third.id).values(status="delivered")
        )
    sent_at = NOW + timedelta(seconds=3, microseconds=250)
    await hot_path.mark_sent(
        database,
        [
            SentMessage(first.id, "SM-first", 2, 15_000),
            SentMessage(second.id, "SM-second"),
            SentMessage(third.id, "SM-third", 1, 7_500),
        ],
        sent_at,
    )
    c = DELIVERY.c
    query = select(
        c.id, c.status, c.provider_id, c.sent_at, c.lease_expires_at, c.segments, c.cost_micros
    )
    async with database.session() as session:
        rows = {row.id: tuple(row[1:]) for row in (await session.execute(query)).all()}
    sent = DeliveryStatus.SENT.value
    assert rows[first.id] == (sent, "SM-first", sent_at, None, 2, 15_000)
    assert rows[second.id] == (sent, "SM-second", sent_at, None, None, None)
    assert rows[third.id][:2] == ("delivered", None)


async def backend_pid(database: Database) -> int:
    """The server process of the direct connection the next work takes."""
    assert database.direct is not None
    pid: int = await database.direct.run(
        lambda connection: connection.fetchval("SELECT pg_backend_pid()")
    )
    return pid


@pytest.mark.postgres
async def test_a_direct_connection_cut_is_an_outage_and_the_next_work_reconnects(
    asyncpg_database: Database,
) -> None:
    """A direct connection the server drops fails its work with an error that means the
    database is away (so the caller waits it out); the next work opens a new connection."""
    database = asyncpg_database
    await seed(database, nairobi_people(2))
    await raise_alert(database)
    pid = await backend_pid(database)
    async with database.session() as session:
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(Exception) as cut:
        await claim(database, 1)
    assert is_unavailable(cut.value), repr(cut.value)
    assert len((await claim(database, 5)).deliveries) == 2
    assert await backend_pid(database) != pid
