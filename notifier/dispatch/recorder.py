"""Record accepted messages in small shared transactions, so the database keeps up with sends.

A sender hands each accepted message over and goes on; its lane's room for it is given back
(`on_recorded`) only once the outcome is committed. A crash can then only repeat the sends
under way and those whose outcome was being written, never a backlog. Batching the commits
(what was accepted while the last one ran) keeps that from costing throughput. An outage of
the database delays the writing, never drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial

import structlog

from notifier.clock import Clock
from notifier.store import hot_path
from notifier.store.engine import Database
from notifier.store.sending import SentMessage

log = structlog.get_logger(__name__)

MAX_BATCH = 500


class SentRecorder:
    """Collects sent messages (delivery, provider id, segments and price) and commits them
    together, in arrival order.

    While the database is away the batch is kept and written once it is back: the message
    went out, and forgetting it would send it again. The senders wait meanwhile (their lane
    has no room left), so what is kept stays bounded.
    """

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._pending: list[tuple[SentMessage, Callable[[], None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def record(self, sent: SentMessage, on_recorded: Callable[[], None]) -> None:
        """Record the delivery as sent; `on_recorded()` once that is committed (or failed)."""
        self._pending.append((sent, on_recorded))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def close(self) -> None:
        """Stop writing: what is not written yet keeps its lease until it runs out."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None and not flusher.done():
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _flush(self) -> None:
        while self._pending:
            # The sends that finish in this turn of the event loop join the batch. No longer
            # wait: a lane's senders wait for this commit (measured: a 5 ms linger halved the
            # commits but cost a fifth of the SMS throughput once commits took 0.4 ms).
            await asyncio.sleep(0)
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            sent = [message for message, _ in batch]
            write = partial(hot_path.mark_sent, self._database, sent, self._clock.now())
            try:
                # Writing the same batch again is harmless: a sent delivery is left as it is.
                await self._database.outages.retry("sent_records", write)
            except Exception:  # a fault, not an outage: their leases run out, they are sent again
                ids = [message.delivery_id for message in sent]
                log.exception("deliveries_not_recorded", delivery_ids=ids)
            finally:
                for _, on_recorded in batch:
                    on_recorded()
