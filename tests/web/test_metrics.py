"""GET /metrics: the outbox by channel and state, queue depth, and the send counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.channel_health import ChannelHealth
from notifier.domain import Channel, Role
from notifier.errors import PermanentSendError, TransientSendError
from notifier.store import alerts, materialisation, outbox
from notifier.store.engine import Database
from notifier.web.app import create_app
from notifier.web.metrics import SendMetrics
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

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


async def three_queued_one_sent(database: Database) -> None:
    """An alert to three people on both channels in the outbox, one SMS accepted by Twilio."""
    await seed(database, nairobi_people(3))
    request = AlertRequest(title="Fire", message="Leave by the stairs.", stations=("NBO",))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("admin", Role.ADMIN))
    assert alert.id is not None
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    async with database.session() as session:
        (claimed,) = await outbox.claim(
            session, Channel.SMS, 1, "worker-1", NOW, timedelta(seconds=60)
        )
        await outbox.mark_sent(session, claimed.id, "SM" + "0" * 32, NOW)


async def test_empty_outbox_has_zero_queue_depth(database: Database) -> None:
    """With no deliveries, the queue depth of each channel is 0 and no delivery line appears."""
    answer = await scrape(database)
    assert answer.types["notifier_deliveries"] == "gauge"
    assert answer.types["notifier_queue_depth"] == "gauge"
    assert "notifier_deliveries{" not in answer.text
    assert answer.samples["notifier_queue_depth", labels(channel="sms")] == 0
    assert answer.samples["notifier_queue_depth", labels(channel="email")] == 0


async def test_deliveries_match_the_outbox(database: Database) -> None:
    """`notifier_deliveries` counts the outbox by channel and state; the depth is what is queued."""
    await three_queued_one_sent(database)
    answer = await scrape(database)
    assert 'notifier_deliveries{channel="sms",state="queued"} 2' in answer.text.splitlines()
    samples = answer.samples
    deliveries = {key: value for key, value in samples.items() if key[0] == "notifier_deliveries"}
    assert deliveries == {
        ("notifier_deliveries", labels(channel="sms", state="queued")): 2,
        ("notifier_deliveries", labels(channel="sms", state="sent")): 1,
        ("notifier_deliveries", labels(channel="email", state="queued")): 3,
    }
    assert samples["notifier_queue_depth", labels(channel="sms")] == 2
    assert samples["notifier_queue_depth", labels(channel="email")] == 3


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
