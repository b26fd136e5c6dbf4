"""GET /metrics: the outbox by channel and state, queue depth, and the send counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Select, text

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.channel_health import ChannelHealth
from notifier.domain import Channel, Role
from notifier.errors import PermanentSendError, TransientSendError
from notifier.store import alerts, materialisation, outbox
from notifier.store.engine import Database
from notifier.store.outbox_gauges import OPEN_ALERT_DELIVERIES, QUEUE_DEPTH
from notifier.web.app import create_app
from notifier.web.metrics import SendMetrics
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.ADMIN)
OPEN_DELIVERIES = "notifier_open_alert_deliveries"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True, slots=True)
class Scrape:
    """One answer of /metrics: its text, each family's type, and every sample's value."""

    text: str
    types: dict[str, str]
    samples: Samples


async def scrape(
    database: Database,
    metrics: SendMetrics | None = None,
    health: ChannelHealth | None = None,
) -> Scrape:
    """GET /metrics from the app, parsed as Prometheus text."""
    app = create_app(database, metrics=metrics, channel_health=health)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return Scrape(response.text, types, samples)


def labels(**values: str) -> frozenset[tuple[str, str]]:
    """A sample's labels as `Samples` keys them."""
    return frozenset(values.items())


async def three_queued_one_sent(database: Database, *, start: int = 0) -> int:
    """An alert to three people on both channels in the outbox, one SMS accepted by Twilio;
    its id. `start` numbers the people, so that a second call adds three others."""
    await seed(database, nairobi_people(3, start=start))
    request = AlertRequest(title="Fire", message="Leave by the stairs.", stations=("NBO",))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    async with database.session() as session:
        (claimed,) = await outbox.claim(
            session, Channel.SMS, 1, "worker-1", NOW, timedelta(seconds=60)
        )
        await outbox.mark_sent(session, claimed.id, "SM" + "0" * 32, NOW)
    return alert.id


def deliveries(answer: Scrape) -> Samples:
    """The `notifier_open_alert_deliveries` samples of a scrape."""
    return {key: value for key, value in answer.samples.items() if key[0] == OPEN_DELIVERIES}


async def test_empty_outbox_has_zero_queue_depth(database: Database) -> None:
    """With no deliveries, the queue depth of each channel is 0 and no delivery line appears."""
    answer = await scrape(database)
    assert answer.types[OPEN_DELIVERIES] == "gauge"
    assert answer.types["notifier_queue_depth"] == "gauge"
    assert f"{OPEN_DELIVERIES}{{" not in answer.text
    assert answer.samples["notifier_queue_depth", labels(channel="sms")] == 0
    assert answer.samples["notifier_queue_depth", labels(channel="email")] == 0


async def test_deliveries_match_the_outbox(database: Database) -> None:
    """The open alert's deliveries by channel and state; the depth is what is queued."""
    await three_queued_one_sent(database)
    answer = await scrape(database)
    line = f'{OPEN_DELIVERIES}{{channel="sms",state="queued"}} 2'
    assert line in answer.text.splitlines()
    assert deliveries(answer) == {
        (OPEN_DELIVERIES, labels(channel="sms", state="queued")): 2,
        (OPEN_DELIVERIES, labels(channel="sms", state="sent")): 1,
        (OPEN_DELIVERIES, labels(channel="email", state="queued")): 3,
    }
    assert answer.samples["notifier_queue_depth", labels(channel="sms")] == 2
    assert answer.samples["notifier_queue_depth", labels(channel="email")] == 3


async def test_a_closed_alerts_deliveries_are_left_out(database: Database) -> None:
    """Once an alert is closed its deliveries leave the gauge (its queued ones are cancelled,
    so they leave the queue depth too); an open alert's stay."""
    closed = await three_queued_one_sent(database)
    async with database.session() as session:
        await alerts.close_alert(session, closed, ADMIN)
    await three_queued_one_sent(database, start=3)  # to all six of the station
    answer = await scrape(database)
    assert deliveries(answer) == {
        (OPEN_DELIVERIES, labels(channel="sms", state="queued")): 5,
        (OPEN_DELIVERIES, labels(channel="sms", state="sent")): 1,
        (OPEN_DELIVERIES, labels(channel="email", state="queued")): 6,
    }
    assert answer.samples["notifier_queue_depth", labels(channel="sms")] == 5
    assert answer.samples["notifier_queue_depth", labels(channel="email")] == 6


@pytest.mark.parametrize(
    ("query", "on_sqlite", "on_postgresql"),
    [
        (QUEUE_DEPTH, "delivery USING INDEX ix_delivery_due", "using ix_delivery_due on delivery"),
        (
            OPEN_ALERT_DELIVERIES,
            "SEARCH delivery USING COVERING INDEX ix_delivery_alert_counts (alert_id=?)",
            "Index Cond: (alert_id = alert.id)",
        ),
    ],
    ids=["queue_depth", "open_alert_deliveries"],
)
async def test_the_gauges_read_the_delivery_table_by_its_indexes(
    database: Database, query: Select[Any], on_sqlite: str, on_postgresql: str
) -> None:
    """Neither gauge reads every delivery: the queue depth reads the partial index of queued
    deliveries, the open alerts' deliveries are looked up by alert (on PostgreSQL with
    sequential scans ruled out, so that the plan is not the one a tiny table would get)."""
    await three_queued_one_sent(database)
    dialect = database.engine.dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    async with database.session(read_only=True) as session:
        if dialect.name == "sqlite":
            rows = await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            plan = " | ".join(row[-1] for row in rows)
            assert on_sqlite in plan, plan
        else:
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " | ".join(row[0] for row in await session.execute(text(f"EXPLAIN {compiled}")))
            assert on_postgresql in plan, plan
        assert "Seq Scan on delivery" not in plan and "SCAN delivery |" not in f"{plan} |", plan


async def test_send_metrics_are_exposed(database: Database) -> None:
    """Attempts observed by SendMetrics appear as counters, and accepted sends in the histogram."""
    metrics = SendMetrics()
    metrics.observe(Channel.SMS, "sent", 0.2)
    metrics.observe(Channel.SMS, "sent", 0.04)
    metrics.observe(Channel.SMS, "transient", 15.0)
    metrics.observe(Channel.EMAIL, "permanent", 0.1)
    answer = await scrape(database, metrics)
    assert answer.types["notifier_send_attempts"] == "counter"
    assert answer.types["notifier_send_seconds"] == "histogram"
    samples = answer.samples
    attempts = "notifier_send_attempts_total"
    assert samples[attempts, labels(channel="sms", outcome="sent")] == 2
    assert samples[attempts, labels(channel="sms", outcome="transient")] == 1
    assert samples[attempts, labels(channel="email", outcome="permanent")] == 1
    assert samples["notifier_send_seconds_count", labels(channel="sms")] == 2
    assert samples["notifier_send_seconds_sum", labels(channel="sms")] == pytest.approx(0.24)
    assert samples["notifier_send_seconds_bucket", labels(channel="sms", le="0.05")] == 1
    assert ("notifier_send_seconds_count", labels(channel="email")) not in samples


async def test_channel_up_is_zero_while_a_channel_is_failing(database: Database) -> None:
    """`notifier_channel_up` is 0 for a failing channel, with the Unix time it began failing."""
    health = ChannelHealth()
    health.failed(Channel.SMS, TransientSendError("twilio server error 500", code="20500"), NOW)
    health.failed(Channel.EMAIL, PermanentSendError("recipient refused: 550", code="550"), NOW)
    answer = await scrape(database, health=health)
    assert answer.types["notifier_channel_up"] == "gauge"
    assert answer.types["notifier_channel_failing_since_seconds"] == "gauge"
    samples = answer.samples
    assert samples["notifier_channel_up", labels(channel="sms")] == 0
    assert samples["notifier_channel_up", labels(channel="email")] == 1
    since = {
        key: value for key, value in samples.items() if key[0].endswith("failing_since_seconds")
    }
    assert since == {
        ("notifier_channel_failing_since_seconds", labels(channel="sms")): NOW.timestamp()
    }


async def test_channels_are_up_before_any_attempt(database: Database) -> None:
    """A daemon that has sent nothing yet shows every channel up, none failing."""
    answer = await scrape(database)
    assert answer.samples["notifier_channel_up", labels(channel="sms")] == 1
    assert answer.samples["notifier_channel_up", labels(channel="email")] == 1
    assert "notifier_channel_failing_since_seconds{" not in answer.text
