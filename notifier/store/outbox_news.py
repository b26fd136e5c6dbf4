"""Word between replicas that deliveries were just queued, so that an emergency goes first on
all of them at once: PostgreSQL's `NOTIFY`, heard through `LISTEN`.

The replica that puts an alert's deliveries in the outbox announces their priority once the
batch is committed. Every other replica hears it within milliseconds and acts as if it had
queued them itself: its lanes claim at once, and give way if they hold anything less urgent
(`notifier.dispatch.dispatcher`). Without this, the others learnt of an emergency only at
their next claim, and until then sent the drill deliveries they held.

The word is a hint, never the only way: what is missed (the listening connection down for a
moment, a replica starting) is found by the next claim or poll, as before. Each replica
listens on a connection of its own through asyncpg, checked every `CHECK_SECONDS` and made
again a second after it breaks. The channel is named after the schema the tables are in, as
the drill scheduler's lock is, so installations sharing a database do not hear each other.
On SQLite (one daemon per file) and through psycopg there is no word to pass: `Silence`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial
from typing import Final, Protocol

import asyncpg
import structlog

from notifier.store.engine import Database

log = structlog.get_logger(__name__)

CHANNEL_PREFIX: Final = "notifier_outbox "
APPLICATION_NAME: Final = "notifier news"
"""The listening connection's name in `pg_stat_activity`, with the replica's worker id."""
CHECK_SECONDS: Final = 5.0
"""How often the listening connection is checked: a network cut closes no socket by itself."""
RETRY_SECONDS: Final = 1.0
"""How long after its connection broke a replica listens again."""

Heard = Callable[[int], None]
"""Called with the priority of deliveries another replica has just queued."""


class OutboxNews(Protocol):
    """What this replica tells the others of the outbox, and hears from them."""

    async def announce(self, priority: int) -> None:
        """Tell the other replicas that deliveries of `priority` were just queued."""
        ...

    async def listen(self, heard: Heard, stopping: asyncio.Event) -> None:
        """Call `heard` for each announcement of another replica, until `stopping` is set."""
        ...


class Silence:
    """No other replica to tell (SQLite), or no way to (psycopg): polling alone."""

    async def announce(self, priority: int) -> None:
        return None

    async def listen(self, heard: Heard, stopping: asyncio.Event) -> None:
        await stopping.wait()


class PostgresNews:
    """`pg_notify` on the direct connections; `LISTEN` on a connection of its own."""

    def __init__(self, database: Database, worker: str) -> None:
        assert database.direct is not None, "news between replicas needs asyncpg"
        self._database = database
        self._direct = database.direct
        self._worker = worker
        self._channel: str | None = None
        self._application_name = f"{APPLICATION_NAME} {worker}"[:63]

    async def announce(self, priority: int) -> None:
        try:
            await self._direct.run(partial(self._notify, payload=f"{priority} {self._worker}"))
        except Exception as error:  # the others find the deliveries at their next claim
            log.info("outbox_news_not_sent", error=str(error))

    async def _notify(self, connection: asyncpg.Connection, payload: str) -> None:
        if self._channel is None:
            self._channel = await _channel_of(connection)
        await connection.execute("SELECT pg_notify($1, $2)", self._channel, payload)

    async def listen(self, heard: Heard, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self._listen_once(heard, stopping)
            except Exception as error:
                log.info("outbox_news_deaf", error=str(error), retry_seconds=RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RETRY_SECONDS)

    async def _listen_once(self, heard: Heard, stopping: asyncio.Event) -> None:
        """Listen on one connection until it breaks or `stopping` is set."""
        pooled = await self._database.engine.connect()
        try:
            driver = (await pooled.get_raw_connection()).driver_connection
            assert isinstance(driver, asyncpg.Connection), "news needs asyncpg"
            broken = asyncio.Event()
            driver.add_termination_listener(lambda _: broken.set())

            def received(_: object, __: int, ___: str, payload: object) -> None:
                priority = _priority_from(str(payload), self._worker)
                if priority is not None:
                    heard(priority)

            await driver.add_listener(await _channel_of(driver), received)
            # Named once it listens: whoever sees the name knows nothing announced is missed.
            await driver.execute(
                "SELECT set_config('application_name', $1, false)", self._application_name
            )
            while not stopping.is_set():
                await _first_of(stopping, broken, CHECK_SECONDS)
                if broken.is_set():
                    raise ConnectionResetError("the listening connection closed")
                if not stopping.is_set():
                    await asyncio.wait_for(driver.execute("SELECT 1"), CHECK_SECONDS)
        finally:
            with contextlib.suppress(Exception):  # never back to the pool: it listens
                await pooled.invalidate()
            with contextlib.suppress(Exception):
                await pooled.close()


async def _first_of(one: asyncio.Event, other: asyncio.Event, seconds: float) -> None:
    """Wait until either event is set, or `seconds` pass."""
    waiters = [asyncio.ensure_future(one.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _priority_from(payload: str, worker: str) -> int | None:
    """The priority another replica announced (None: this replica's own, or not ours)."""
    priority, _, sender = payload.partition(" ")
    if sender == worker or not priority.lstrip("-").isdigit():
        return None
    return int(priority)


async def _channel_of(connection: asyncpg.Connection) -> str:
    schema = await connection.fetchval("SELECT current_schema()")
    return f"{CHANNEL_PREFIX}{schema}"[:63]


def outbox_news(database: Database, worker: str) -> OutboxNews:
    """The news between the replicas of this database (`Silence` when there are none)."""
    if database.direct is None:
        return Silence()
    return PostgresNews(database, worker)
