"""The token bucket lets bursts through, then holds callers to the configured rate."""

from __future__ import annotations

import pytest

from notifier.dispatch.rate_limit import TokenBucket


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    """A full bucket gives `burst` tokens at once, then one per 1/rate seconds."""
    clock = FakeMonotonic()
    bucket = TokenBucket(rate=10, burst=3, monotonic=clock)
    for _ in range(3):
        assert bucket.wait_time() == 0
        bucket._tokens -= 1  # take without waiting, as take() does after a zero wait
    assert bucket.wait_time() == pytest.approx(0.1)
    clock.now += 0.05
    assert bucket.wait_time() == pytest.approx(0.05)
    clock.now += 10
    assert bucket.wait_time() == 0
    assert bucket._tokens == 3  # never more than the burst


async def test_take_paces_callers() -> None:
    """Taking more tokens than the burst waits in real time for the rate."""
    bucket = TokenBucket(rate=200, burst=1)
    import time

    started = time.monotonic()
    for _ in range(21):
        await bucket.take()
    elapsed = time.monotonic() - started
    assert elapsed >= 20 / 200 * 0.9
