"""Prometheus metrics: open alerts' deliveries by state, queue depth, send latency, channel up."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from notifier.channel_health import ChannelHealth, ChannelState
from notifier.domain import Channel
from notifier.store import outbox_gauges
from notifier.store.engine import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SendMetrics:
    """The daemon's own measurements, in a registry of its own (one per running daemon)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.attempts = Counter(
            "notifier_send_attempts",
            "Send attempts by channel and outcome.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "notifier_send_seconds",
            "Seconds a provider took to accept a message.",
            ["channel"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

        # Each channel's series of sent messages, looked up at its first message and then kept:
        # `labels()` takes a lock and builds a key, which every message would otherwise pay.
        self._sent: dict[Channel, tuple[Any, Any]] = {}

    def observe(self, channel: Channel, outcome: str, seconds: float) -> None:
        """Count one attempt; time it if the provider accepted the message."""
        if outcome != "sent":
            self.attempts.labels(channel.value, outcome).inc()
            return
        if channel not in self._sent:
            self._sent[channel] = (
                self.attempts.labels(channel.value, outcome),
                self.latency.labels(channel.value),
            )
        attempts, latency = self._sent[channel]
        attempts.inc()
        latency.observe(seconds)


async def metrics(request: Request) -> Response:
    """GET /metrics: the outbox's state from the database, then this process's counters."""
    database: Database = request.app.state.database
    send_metrics: SendMetrics = request.app.state.metrics
    async with database.session(read_only=True) as session:
        deliveries = await outbox_gauges.open_alert_deliveries(session)
        queued = await outbox_gauges.queue_depth(session)
    lines = [
        "# HELP notifier_open_alert_deliveries Deliveries of the alerts still open, by channel "
        "and state.",
        "# TYPE notifier_open_alert_deliveries gauge",
    ]
    lines += [
        f'notifier_open_alert_deliveries{{channel="{channel}",state="{status}"}} {count}'
        for (channel, status), count in sorted(deliveries.items())
    ]
    lines += [
        "# HELP notifier_queue_depth Deliveries waiting to be sent, by channel.",
        "# TYPE notifier_queue_depth gauge",
    ]
    lines += [
        f'notifier_queue_depth{{channel="{channel.value}"}} {queued.get(channel.value, 0)}'
        for channel in Channel
    ]
    lines += channel_lines(request.app.state.channel_health)
    body = "\n".join(lines) + "\n" + generate_latest(send_metrics.registry).decode()
    return Response(body, media_type=CONTENT_TYPE)


def channel_lines(health: ChannelHealth) -> list[str]:
    """`notifier_channel_up` for every channel, and since when each failing one has failed."""
    lines = [
        "# HELP notifier_channel_up 1 unless the channel is failing (see /healthz), then 0.",
        "# TYPE notifier_channel_up gauge",
    ]
    since: list[str] = []
    for channel, status in health.snapshot().items():
        failing = status.state is ChannelState.FAILING
        lines.append(f'notifier_channel_up{{channel="{channel.value}"}} {0 if failing else 1}')
        if failing and status.since is not None:
            seconds = status.since.timestamp()
            since.append(
                f'notifier_channel_failing_since_seconds{{channel="{channel.value}"}} {seconds}'
            )
    return [
        *lines,
        "# HELP notifier_channel_failing_since_seconds Unix time the channel began failing.",
        "# TYPE notifier_channel_failing_since_seconds gauge",
        *since,
    ]
