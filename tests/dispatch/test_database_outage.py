"""The dispatcher waits out its database going away mid fan-out, and sends nobody twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, DeliveryStatus, Role
from notifier.store import alerts, materialisation, outbox, schema
from notifier.store.engine import Database, create_engine
from notifier.store.tables import DELIVERY
from tests.dispatch.harness import running_fan_out
from tests.leases import end_leases
from tests.postgres import throwaway_schema
from tests.processes.tcp_proxy import TcpProxy
from tests.seeding import nairobi_people, seed

PEOPLE = 400
LEASE_SECONDS = 1.5
OUTAGE_SECONDS = 3.0
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
ADMIN = Principal("officer", Role.ADMIN)


@asynccontextmanager
async def _through_proxy(postgres_url: str) -> AsyncIterator[tuple[Database, TcpProxy]]:
    """A database in a schema of its own, reached through a proxy that can cut it off."""
    target = make_url(postgres_url)
    async with (
        throwaway_schema(postgres_url, "outage") as direct,
        TcpProxy(target.port or 5432, target.host or "127.0.0.1") as proxy,
    ):
        await schema.upgrade(direct)
        search_path = await _search_path(direct)
        engine = create_engine(
            target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
            connect_args={"server_settings": {"search_path": search_path}},
        )
        database = Database(engine)
        try:
            yield database, proxy
        finally:
            await database.close()


async def _search_path(database: Database) -> str:
    async with database.session() as session:
        return str((await session.execute(text("SHOW search_path"))).scalar_one())


@pytest.mark.postgres
async def test_a_cut_longer_than_a_lease_is_waited_out_and_nobody_is_sent_twice(
    postgres_url: str,
) -> None:
    """Cut for twice a lease mid fan-out: everyone reached once, the outage logged once each way."""
    async with _through_proxy(postgres_url) as (database, proxy):
        await seed(database, nairobi_people(PEOPLE))
        with capture_logs() as logs:
            async with running_fan_out(database, lease_seconds=str(LEASE_SECONDS)) as fan_out:
                alert_id = await fan_out.raise_alert(
                    AlertRequest(title="Flood", message="Go uphill.", stations=("NBO",))
                )
                deadline = time.monotonic() + 30
                while (
                    len(fan_out.twilio.messages) + len(fan_out.smtp.messages) < PEOPLE // 2
                    and time.monotonic() < deadline
                ):
                    await asyncio.sleep(0.005)
                proxy.cut()
                await asyncio.sleep(OUTAGE_SECONDS)
                proxy.restore()
                await fan_out.until_dispatched(alert_id, seconds=60)
                sms = Counter(message.to for message in fan_out.twilio.messages)
                mail = Counter(message.rcpt_tos for message in fan_out.smtp.messages)
    assert len(sms) == PEOPLE and max(sms.values()) == 1
    assert len(mail) == PEOPLE and max(mail.values()) == 1
    events = Counter(entry["event"] for entry in logs)
    assert events["database_unavailable"] == 1, logs
    assert events["database_available"] == 1, logs
    assert not events["loop_failed"], logs


async def test_what_the_senders_hold_past_its_lease_is_not_put_back_in_the_queue(
    database: Database,
) -> None:
    """Housekeeping requeues lapsed leases, except those its own senders still hold unwritten."""
    await seed(database, nairobi_people(3))
    async with database.session() as session:
        request = AlertRequest(
            title="Fire", message="Leave.", stations=("NBO",), channels=(Channel.SMS,)
        )
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    async with database.session() as session:
        while not (await materialisation.materialise_batch(session, alert.id, 100, NOW)).finished:
            pass
    async with database.session() as session:
        claimed = await outbox.claim(session, Channel.SMS, 5, "this-process", NOW, LEASE)
    sent_while_away, unsent = claimed[0].id, {delivery.id for delivery in claimed[1:]}
    await end_leases(database, [delivery.id for delivery in claimed])
    after_the_lease = NOW + LEASE + timedelta(seconds=1)
    async with database.session() as session:
        requeued = await outbox.reclaim_expired(session, after_the_lease, 5, [sent_while_away])
    assert requeued == 2
    async with database.session() as session:
        again = await outbox.claim(session, Channel.SMS, 5, "this-process", after_the_lease, LEASE)
        await outbox.mark_sent(session, sent_while_away, "SM-written-late", after_the_lease)
    assert {delivery.id for delivery in again} == unsent
    async with database.session() as session:
        status = (
            await session.execute(select(DELIVERY.c.status).where(DELIVERY.c.id == sent_while_away))
        ).scalar_one()
    assert status == DeliveryStatus.SENT
