"""A stand-in for the dispatcher's wake-up call that counts the calls."""

from __future__ import annotations


class WakeCounter:
    """Stands in for the dispatcher's wake-up call and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
