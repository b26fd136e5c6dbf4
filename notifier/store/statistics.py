"""The planner's statistics of the outbox tables brought up to date once an alert fills them.

PostgreSQL plans each statement from statistics that autovacuum refreshes only after a share
of a table has changed and its next round comes (a minute by default). An alert adds tens of
thousands of recipients and deliveries in seconds, and until then the planner takes the new
alert for a small one: measured during a 50,000-person drill, a reply's lookup of its
sender's open alerts and a claim's check for people with several open alerts read every
recipient of the alerts instead of the few asked for, 90 to 150 ms each instead of under one.
So a replica that puts a batch of deliveries in the outbox asks for `ANALYZE` of the two
tables, run in a task of its own beside the dispatch, at most once every `SPACING_SECONDS`
(about 0.13 s of the server's time for each, measured with 67,000 recipients; its sample
is bounded, so more rows cost little more): an alert's first batch is known to the planner
at once, its last within seconds. On SQLite (whose planner reads no such statistics unless
asked) and through psycopg it is a no-op.
"""

from __future__ import annotations

import asyncio
from typing import Final

import structlog

from notifier.store.engine import Database

log = structlog.get_logger(__name__)

TABLES: Final = ("recipient", "delivery")
"""The tables an alert fills: its audience and its outbox."""
TIMEOUT_SECONDS: Final = 60.0
"""The longest a refresh may take (a connection cut mid-way may never answer)."""
SPACING_SECONDS: Final = 2.0
"""The least time from one refresh to the next: requests meanwhile make one more after it."""


class PlannerStatistics:
    """Refreshes the statistics of `TABLES` when asked, one refresh at a time."""

    def __init__(self, database: Database, spacing: float = SPACING_SECONDS) -> None:
        self._database = database
        self._spacing = spacing
        self._wanted = asyncio.Event()
        self.refreshed = 0
        """How many refreshes have run: for the tests."""

    @property
    def applies(self) -> bool:
        """Whether this database keeps such statistics (PostgreSQL through asyncpg)."""
        return self._database.direct is not None

    def request(self) -> None:
        """Ask for a refresh: now, or once the spacing after the last one has passed."""
        if self.applies:
            self._wanted.set()

    async def keep(self, stopping: asyncio.Event) -> None:
        """Refresh whenever asked, until `stopping` is set (a refresh under way is then
        abandoned: the daemon's stop does not wait for it). A failed refresh is logged and left
        to the next request; autovacuum does it in the end anyway."""
        if not self.applies:
            return
        stop = asyncio.create_task(stopping.wait())
        waiting: set[asyncio.Task[object]] = {stop}
        try:
            while not stopping.is_set():
                wanted = asyncio.create_task(self._wanted.wait())
                waiting.add(wanted)
                await asyncio.wait({wanted, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.is_set():
                    return
                self._wanted.clear()
                refresh = asyncio.create_task(self._refresh())
                waiting.add(refresh)
                await asyncio.wait({refresh, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not refresh.done():
                    return
                if (error := refresh.exception()) is not None:
                    # the database away, or busy: not this loop's to fix
                    log.warning("statistics_not_refreshed", error=str(error))
                waiting -= {wanted, refresh}
                await asyncio.wait({stop}, timeout=self._spacing)
        finally:
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _refresh(self) -> None:
        async with (
            asyncio.timeout(TIMEOUT_SECONDS),
            self._database.engine.connect() as connection,
        ):
            await connection.exec_driver_sql(f"ANALYZE {', '.join(TABLES)}")
            await connection.commit()
        self.refreshed += 1
