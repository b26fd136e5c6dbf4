"""Channel states from send outcomes: idle, ok, failing with its masked error and since when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from notifier.channel_health import ChannelHealth, ChannelState, ChannelStatus, masked
from notifier.domain import Channel
from notifier.errors import PermanentSendError, SendError, TransientSendError

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
REFUSED = TransientSendError("ConnectionRefusedError: [Errno 111] Connect call failed")
SERVER_ERROR = TransientSendError("twilio server error 500", code="20500")
INVALID_NUMBER = PermanentSendError("twilio refused the message (400)", code="21211")


def test_every_channel_is_idle_before_any_attempt() -> None:
    """A new process has tried nothing: each channel is idle, and says nothing more."""
    snapshot = ChannelHealth().snapshot()
    assert list(snapshot) == [Channel.EMAIL, Channel.SMS]
    assert all(status == ChannelStatus(ChannelState.IDLE) for status in snapshot.values())
    assert snapshot[Channel.SMS].as_json() == {"state": "idle"}


def test_whatsapp_is_reported_when_it_is_sent_on() -> None:
    """With a WhatsApp sender, the daemon's lanes include WhatsApp, and so does its health."""
    snapshot = ChannelHealth([Channel.SMS, Channel.WHATSAPP, Channel.EMAIL]).snapshot()
    assert list(snapshot) == [Channel.EMAIL, Channel.SMS, Channel.WHATSAPP]


def test_a_transient_failure_makes_the_channel_failing_since_then() -> None:
    """A refused connection: failing, with the error and the time of the first failure."""
    health = ChannelHealth()
    health.failed(Channel.EMAIL, REFUSED, NOW)
    health.failed(Channel.EMAIL, TransientSendError("TimeoutError: "), NOW + timedelta(seconds=9))
    status = health.status(Channel.EMAIL)
    assert status.as_json() == {
        "state": "failing",
        "error": "TimeoutError:",
        "since": "2026-12-02T07:00:00+00:00",
        "failures": 2,
    }
    assert health.status(Channel.SMS).state is ChannelState.IDLE


def test_the_next_success_makes_a_failing_channel_ok() -> None:
    """Once a message goes through, the channel is ok and its error is forgotten."""
    health = ChannelHealth()
    health.failed(Channel.SMS, SERVER_ERROR, NOW)
    with capture_logs() as logs:
        health.succeeded(Channel.SMS)
        health.succeeded(Channel.SMS)
    assert health.status(Channel.SMS).as_json() == {"state": "ok"}
    assert [entry["event"] for entry in logs] == ["channel_recovered"]
    health.failed(Channel.SMS, SERVER_ERROR, NOW + timedelta(hours=1))
    assert health.status(Channel.SMS).since == NOW + timedelta(hours=1)


@pytest.mark.parametrize("before", [None, "succeeded"])
def test_a_permanent_failure_leaves_the_channel_ok(before: str | None) -> None:
    """An invalid number is that recipient's problem: the channel is ok, tried or not before."""
    health = ChannelHealth()
    if before:
        health.succeeded(Channel.SMS)
    health.failed(Channel.SMS, INVALID_NUMBER, NOW)
    assert health.status(Channel.SMS) == ChannelStatus(ChannelState.OK)


def test_a_permanent_failure_does_not_end_a_failing_spell() -> None:
    """A recipient refused while the provider is failing says nothing of the provider: failing."""
    health = ChannelHealth()
    health.failed(Channel.SMS, SERVER_ERROR, NOW)
    health.failed(Channel.SMS, INVALID_NUMBER, NOW + timedelta(seconds=1))
    status = health.status(Channel.SMS)
    assert status.state is ChannelState.FAILING
    assert status.error == "20500: twilio server error 500"


def test_going_failing_is_logged_once_per_spell() -> None:
    """One `channel_failing` warning however many attempts fail, with the channel named."""
    health = ChannelHealth()
    with capture_logs() as logs:
        for second in range(5):
            health.failed(Channel.EMAIL, REFUSED, NOW + timedelta(seconds=second))
    assert [(entry["event"], entry["channel"]) for entry in logs] == [("channel_failing", "email")]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            TransientSendError(
                "recipient refused: 450 4.2.0 <amina.odhiambo@example.org>: greylisted",
                code="450",
            ),
            "recipient refused: 450 4.2.0 <a***@example.org>: greylisted",
        ),
        (
            TransientSendError("no route to +254722000111 today", code="30003"),
            "30003: no route to +2547******11 today",
        ),
        (TransientSendError("bad link /ack/abcdef123456 seen"), "bad link /ack/*** seen"),
        (TransientSendError("first line\nsecond line +254722000111"), "first line"),
        (TransientSendError(""), "TransientSendError"),
        (TransientSendError("x" * 500 + " +254722000111"), "x" * 200),
    ],
)
def test_errors_are_masked_and_short(error: SendError, expected: str) -> None:
    """No phone number, address or token in what /healthz shows; one line of 200 at most."""
    assert masked(error) == expected
