"""Replicas' presence on PostgreSQL: a worker whose lock is gone has its deliveries queued
again at once; a present one, or one never seen present, keeps its leases; one joining
others claims only once they can have seen it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Role
from notifier.store import alerts, materialisation, outbox
from notifier.store.engine import Database
from notifier.store.presence import AlonePresence, LockedPresence, replica_presence
from notifier.store.tables import DELIVERY
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


async def passes(presence: LockedPresence, database: Database, count: int) -> list[int]:
    """What `count` housekeeping passes find vanished, all together."""
    gone: list[int] = []
    for _ in range(count):
        async with database.session(read_only=True) as session:
            gone += await presence.vanished(session)
    return gone


async def three_workers_sending(database: Database) -> dict[str, list[int]]:
    """An SMS alert to six people, two deliveries leased to each of "dead", "alive" and
    "old"; the delivery ids of each."""
    await seed(database, nairobi_people(6))
    request = AlertRequest(
        title="Fire", message="Leave.", stations=("NBO",), channels=(Channel.SMS,)
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("admin", Role.ADMIN))
        assert alert.id is not None
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    leased: dict[str, list[int]] = {}
    for worker in ("dead", "alive", "old"):
        async with database.session() as session:
            claimed = await outbox.claim(session, Channel.SMS, 2, worker, NOW, LEASE)
        leased[worker] = [delivery.id for delivery in claimed]
    return leased


def test_sqlite_has_one_daemon_always_present(database: Database) -> None:
    """On SQLite the presence is the one process's: held, nobody vanishes."""
    presence = replica_presence(database, "w")
    is_postgresql = database.engine.dialect.name == "postgresql"
    assert isinstance(presence, LockedPresence if is_postgresql else AlonePresence)


@pytest.mark.postgres
async def test_a_dead_workers_deliveries_are_queued_again_and_no_one_elses(
    asyncpg_database: Database,
) -> None:
    """Once "dead"'s presence is gone from two passes, its leased deliveries are queued
    again; "alive" (present) and "old" (never seen present) keep theirs."""
    database = asyncpg_database
    leased = await three_workers_sending(database)
    me = replica_presence(database, "me")
    dead = replica_presence(database, "dead")
    alive = replica_presence(database, "alive")
    assert isinstance(me, LockedPresence)
    try:
        for presence in (me, dead, alive):
            await presence.keep()
            assert presence.held
        assert await passes(me, database, 2) == []
        await dead.close()  # its connection ends, as a killed process's would
        (gone,) = await passes(me, database, 2)
        assert await passes(me, database, 3) == [], "each vanished worker is reported once"
        async with database.session() as session:
            requeued = await outbox.reclaim_vanished(session, [gone], NOW, max_attempts=5)
        assert requeued == 2
        c = DELIVERY.c
        async with database.session() as session:
            rows = (await session.execute(select(c.id, c.status, c.leased_by))).all()
        status = {row.id: (row.status, row.leased_by) for row in rows}
        assert [status[i] for i in leased["dead"]] == [("queued", None)] * 2
        assert [status[i] for i in leased["alive"]] == [("sending", "alive")] * 2
        assert [status[i] for i in leased["old"]] == [("sending", "old")] * 2
    finally:
        for presence in (me, dead, alive):
            await presence.close()


@pytest.mark.postgres
async def test_a_worker_missing_from_one_pass_only_is_not_gone(
    asyncpg_database: Database,
) -> None:
    """A presence that comes back before the second pass is not taken for gone."""
    database = asyncpg_database
    me = replica_presence(database, "me")
    blink = replica_presence(database, "blink")
    assert isinstance(me, LockedPresence)
    try:
        await me.keep()
        await blink.keep()
        assert await passes(me, database, 1) == []
        await blink.close()
        assert await passes(me, database, 1) == []
        await blink.keep()
        assert blink.held
        assert await passes(me, database, 3) == []
    finally:
        await me.close()
        await blink.close()


@pytest.mark.postgres
async def test_deliveries_past_their_attempts_fail_instead(asyncpg_database: Database) -> None:
    """A vanished worker's delivery that has had its attempts fails, as an expired one would."""
    database = asyncpg_database
    leased = await three_workers_sending(database)
    async with database.session() as session:
        await session.execute(
            update(DELIVERY).where(DELIVERY.c.id == leased["dead"][0]).values(attempts=5)
        )
    me = replica_presence(database, "me")
    dead = replica_presence(database, "dead")
    assert isinstance(me, LockedPresence)
    try:
        await me.keep()
        await dead.keep()
        await passes(me, database, 1)
        await dead.close()
        (gone,) = await passes(me, database, 2)
        async with database.session() as session:
            assert await outbox.reclaim_vanished(session, [gone], NOW, max_attempts=5) == 1
        async with database.session() as session:
            rows = await session.execute(
                select(DELIVERY.c.status, DELIVERY.c.last_error).where(
                    DELIVERY.c.id.in_(leased["dead"])
                )
            )
            assert sorted(rows.all()) == [("failed", "replica gone"), ("queued", "replica gone")]
    finally:
        await me.close()
        await dead.close()


@pytest.mark.postgres
async def test_a_replica_joining_others_claims_only_once_they_can_have_seen_it(
    asyncpg_database: Database,
) -> None:
    """Alone, a replica may claim as soon as it holds its presence; joining others, only after
    the settling time, by when their passes have seen it (killed before, it held nothing)."""
    database = asyncpg_database
    first = LockedPresence(database, "first", settle_seconds=0.5)
    second = LockedPresence(database, "second", settle_seconds=0.5)
    try:
        await first.keep()
        assert first.held and first.may_claim
        await second.keep()
        assert second.held and not second.may_claim
        await asyncio.sleep(0.6)
        assert second.may_claim
    finally:
        await first.close()
        await second.close()
    assert not first.may_claim
