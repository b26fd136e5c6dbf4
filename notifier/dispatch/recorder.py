"""Record accepted messages in small shared transactions, so the database keeps up with sends.

A send's slot is held until its outcome is committed: a crash can then only repeat the sends
that were in flight, never a backlog of sends whose outcome was still waiting to be written.
Batching the commits (every few milliseconds) keeps that from costing throughput.
"""

from __future__ import annotations

import asyncio
from functools import partial

from notifier.clock import Clock
from notifier.store import sending
from notifier.store.engine import Database

MAX_BATCH = 500


class SentRecorder:
    """Collects (delivery, provider id) pairs and commits them together; callers await it."""

    def __init__(self, database: Database, clock: Clock, linger_seconds: float = 0.0) -> None:
        self._database = database
        self._clock = clock
        self._linger = linger_seconds
        self._pending: list[tuple[int, str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, delivery_id: int, provider_id: str) -> None:
        """Return once the delivery is recorded as sent with the provider's id."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery_id, provider_id, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(self._linger)
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                sent = [(delivery_id, provider_id) for delivery_id, provider_id, _ in batch]
                await self._database.run(
                    partial(sending.mark_sent, sent=sent, now=self._clock.now())
                )
            except Exception as error:  # each waiter sees the failure; its delivery stays leased
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)
