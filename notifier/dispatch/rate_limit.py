"""A token bucket: at most `rate` sends a second on average, bursts of at most `burst`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """Waits callers so that they proceed at the provider's allowed rate, in arrival order."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._monotonic = monotonic
        self._tokens = self.burst
        self._updated = monotonic()
        self._lock = asyncio.Lock()

    def wait_time(self) -> float:
        """Seconds until one token is available (0 if one is now), without taking it."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    async def take(self) -> None:
        """Wait for a token and take it; waiters are served first come, first served."""
        if not self._lock.locked() and self.wait_time() == 0:
            self._tokens -= 1  # the common case when the rate does not bind: no waiting
            return
        async with self._lock:
            delay = self.wait_time()
            if delay > 0:
                await asyncio.sleep(delay)
                self._refill()
            self._tokens -= 1

    def give_back(self) -> None:
        """Return a token taken and not used (at most the burst is kept)."""
        self._tokens = min(self.burst, self._tokens + 1)

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
