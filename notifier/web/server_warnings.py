"""The servers' warnings about what clients send, each logged at most once every 10 s.

uvicorn warns for every malformed request ("Invalid HTTP request received.") and twice for
every request asking for a protocol upgrade, however many come on one connection; aiosmtpd
(the inbound SMTP listener) for every unknown command, five a session. Anyone on the internet
could write the log as fast as they send. Each such warning (told apart by its text) is let
through once per `EVERY_SECONDS`; the next one let through says how many were held back
meanwhile (`more`). Errors always pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

EVERY_SECONDS: Final = 10.0
LOGGERS: Final = ("uvicorn.error", "mail.log")
"""The loggers uvicorn's HTTP protocol and aiosmtpd's SMTP protocol write their warnings to."""


class HeldBackWarnings(logging.Filter):
    """Lets each warning text through once per `seconds`, counting those held back."""

    def __init__(
        self, seconds: float = EVERY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._seconds = seconds
        self._clock = clock
        self._next: dict[object, float] = {}
        self._held_back: dict[object, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        key = record.msg  # the servers' texts are constants (formats): a handful of keys
        now = self._clock()
        if now < self._next.get(key, float("-inf")):
            self._held_back[key] = self._held_back.get(key, 0) + 1
            return False
        self._next[key] = now + self._seconds
        record.more = self._held_back.pop(key, 0)
        return True


def hold_back_server_warnings() -> None:
    """Have the servers' warnings held back (calling again replaces the filters)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.filters[:] = [
            kept for kept in logger.filters if not isinstance(kept, HeldBackWarnings)
        ]
        logger.addFilter(HeldBackWarnings())
