"""A stand-in for the dispatcher's wake-up call that counts the calls."""

from __future__ import annotations

from notifier.domain import Channel


class WakeCounter:
    """Stands in for the dispatcher's wake-up calls, counting them and the channels named."""

    def __init__(self) -> None:
        self.calls = 0
        self.channels: list[Channel] = []

    def __call__(self, *channels: Channel) -> None:
        self.calls += 1
        self.channels.extend(channels)
