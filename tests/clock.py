"""A clock for tests: it tells the time the test set, and moves only when the test moves it."""

from __future__ import annotations

from datetime import datetime


class HandClock:
    """A clock set by hand: `at` is what `now()` tells."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """The time set."""
        return self.at
