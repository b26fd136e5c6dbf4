"""Whether each channel's provider is taking messages now, judged from the outcomes of sends.

    idle     no attempt yet since the process started
    ok       the last attempts went through, or failed only for their recipient (permanent)
    failing  every attempt since `since` failed for a transient reason: a refused or dropped
             connection, a timeout, refused credentials, an SMTP 4xx, a Twilio 429 or 5xx

A permanent failure (an invalid number, a refused address) says nothing about the channel: it
leaves the state as it was (and an idle channel ok). The next success makes a failing channel
ok again. Each process judges its own sends; the state is kept in memory only, fed by the
dispatcher where it observes every outcome, and read by /healthz and /metrics.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import structlog

from notifier.domain import Channel
from notifier.errors import SendError, TransientSendError
from notifier.logs import mask_email, mask_phone, mask_tokens

log = structlog.get_logger(__name__)

ERROR_TEXT_LIMIT = 200
"""Characters of an error's text kept for /healthz."""


class ChannelState(StrEnum):
    """What the last attempts of a channel say about its provider."""

    IDLE = "idle"
    OK = "ok"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """One channel's state; when failing, the last error (masked), since when and how often."""

    state: ChannelState
    error: str | None = None
    since: datetime | None = None
    failures: int = 0

    def as_json(self) -> dict[str, object]:
        """The shape /healthz gives: `{"state"}`, and while failing its error and since."""
        if self.state is not ChannelState.FAILING or self.since is None:
            return {"state": self.state.value}
        return {
            "state": self.state.value,
            "error": self.error,
            "since": self.since.astimezone(UTC).isoformat(timespec="seconds"),
            "failures": self.failures,
        }


@dataclass(slots=True)
class _Failing:
    since: datetime
    error: SendError
    failures: int


class ChannelHealth:
    """The state of every channel of one process, updated after each attempt.

    A success costs a set insertion and a dict look-up: it runs for every message sent.
    """

    def __init__(self, channels: Collection[Channel] = (Channel.SMS, Channel.EMAIL)) -> None:
        self._channels = sorted(channels)  # those sent on: WhatsApp only when configured
        self._tried: set[Channel] = set()
        self._failing: dict[Channel, _Failing] = {}

    def succeeded(self, channel: Channel) -> None:
        """The provider accepted a message on `channel`."""
        self._tried.add(channel)
        if channel in self._failing:
            failing = self._failing.pop(channel)
            log.info(
                "channel_recovered",
                channel=channel.value,
                failing_since=failing.since.isoformat(),
                failures=failing.failures,
            )

    def failed(self, channel: Channel, error: SendError, now: datetime) -> None:
        """A message on `channel` was not accepted; only a transient `error` makes it failing."""
        self._tried.add(channel)
        if not isinstance(error, TransientSendError):
            return
        failing = self._failing.get(channel)
        if failing is not None:
            failing.error = error
            failing.failures += 1
            return
        self._failing[channel] = _Failing(now, error, 1)
        log.warning("channel_failing", channel=channel.value, error=masked(error))

    def status(self, channel: Channel) -> ChannelStatus:
        """`channel`'s state now."""
        failing = self._failing.get(channel)
        if failing is not None:
            return ChannelStatus(
                ChannelState.FAILING, masked(failing.error), failing.since, failing.failures
            )
        return ChannelStatus(ChannelState.OK if channel in self._tried else ChannelState.IDLE)

    def snapshot(self) -> dict[Channel, ChannelStatus]:
        """The state of every channel sent on, in the order of their names."""
        return {channel: self.status(channel) for channel in self._channels}


def masked(error: SendError) -> str:
    """The error's code and first line, without phone numbers, addresses or tokens."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if error.code and error.code not in text:
        text = f"{error.code}: {text}"
    # Masked before it is cut short: half an address would no longer look like one.
    return mask_email(mask_phone(mask_tokens(text)))[:ERROR_TEXT_LIMIT]
