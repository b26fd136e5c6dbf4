"""uvicorn's warnings are let through once per period each, with the count of those held back."""

from __future__ import annotations

import logging

from notifier.web.server_warnings import HeldBackWarnings


class Clock:
    """Monotonic seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    """A record of uvicorn's logger saying `message`."""
    return logging.LogRecord("uvicorn.error", level, __file__, 1, message, None, None)


def test_each_warning_passes_once_a_period_and_tells_how_many_were_held_back() -> None:
    clock = Clock()
    held_back = HeldBackWarnings(10.0, clock)
    first = record("Invalid HTTP request received.")
    assert held_back.filter(first)
    assert first.__dict__["more"] == 0
    assert not any(held_back.filter(record("Invalid HTTP request received.")) for _ in range(5))
    assert held_back.filter(record("Unsupported upgrade request."))  # another text: its own turn
    clock.now += 10.0
    next_one = record("Invalid HTTP request received.")
    assert held_back.filter(next_one)
    assert next_one.__dict__["more"] == 5


def test_errors_always_pass() -> None:
    held_back = HeldBackWarnings(10.0, Clock())
    assert all(
        held_back.filter(record("Exception in ASGI application", logging.ERROR)) for _ in range(3)
    )
