"""Which replicas are alive, so that a dead one's deliveries are sent again in seconds.

On PostgreSQL each replica holds a session advisory lock named after its worker id (class
`PRESENCE_LOCK_CLASS`, key `hashtext(worker)`) on a connection of its own. The server lets
the lock go the moment that connection ends, so when a replica dies without a word (SIGKILL,
a machine lost) its lock leaves `pg_locks` at once. Every replica reads the presence locks
at each housekeeping pass; a worker seen present before and then missing from two passes in
a row is gone, and the deliveries it held are queued again (`outbox.reclaim_vanished`)
instead of waiting for their leases to run out.

A live replica never has its deliveries handed over: it holds its lock before it claims
anything, and claims nothing while it does not. Only a worker seen holding its lock counts;
so that every replica that claims has been seen, one that finds others present when it takes
its lock waits `SETTLE_SECONDS` before its first claim (their passes are at most a second
apart): killed at once, it had claimed nothing. One alone claims at once. Only then:
a replica of an earlier version, which holds none, keeps its leases until they run out, as
before. A replica whose lock connection alone broke (the rest of it alive) would be taken
for gone: what it had in flight may then be sent twice, and no more, since it stops claiming
until its lock is back.

On SQLite there is one daemon per database file: it is always present and nobody vanishes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.store.engine import Database, is_sqlite
from notifier.store.scheduler_lock import AdvisoryLock

PRESENCE_LOCK_CLASS = 0x7265_706C  # "repl": a replica's presence; its key its worker's hash
APPLICATION_NAME = "notifier replica"

_PRESENT_KEYS = text(
    "SELECT objid FROM pg_locks"
    " WHERE locktype = 'advisory' AND classid = :class AND objsubid = 2 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_OWN_KEY = text("SELECT hashtext(:worker)")
_OTHERS = text(
    "SELECT count(*) FROM pg_locks"
    " WHERE locktype = 'advisory' AND classid = :class AND objsubid = 2 AND granted"
    " AND objid <> (hashtext(:worker)::bigint & 4294967295)::oid"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)

SETTLE_SECONDS: Final = 2.0
"""How long a replica that found others present holds its presence before it claims: by then
each of them, reading `pg_locks` once a second, has seen it."""


class Presence(Protocol):
    """This replica's presence, and what it sees of the others'."""

    @property
    def held(self) -> bool:
        """Whether this replica holds its presence now."""
        ...

    @property
    def may_claim(self) -> bool:
        """Whether it holds it, and long enough for the other replicas to have seen it."""
        ...

    async def keep(self) -> None:
        """Take this replica's presence if it is not held, or check that it still is."""
        ...

    async def vanished(self, session: AsyncSession) -> list[int]:
        """The keys of the workers gone since they were last seen (each reported once)."""
        ...

    async def close(self) -> None:
        """Let this replica's presence go."""
        ...


class AlonePresence:
    """SQLite: the one daemon of the file."""

    @property
    def held(self) -> bool:
        return True

    @property
    def may_claim(self) -> bool:
        return True

    async def keep(self) -> None:
        return None

    async def vanished(self, session: AsyncSession) -> list[int]:
        return []

    async def close(self) -> None:
        return None


class LockedPresence:
    """PostgreSQL: a session advisory lock per replica, and the others' read from `pg_locks`."""

    def __init__(
        self, database: Database, worker: str, settle_seconds: float = SETTLE_SECONDS
    ) -> None:
        self._database = database
        self._worker = worker
        self._settle_seconds = settle_seconds
        self._claims_from = 0.0  # time.monotonic() from which it may claim
        self._lock = AdvisoryLock(
            database, worker, lock_class=PRESENCE_LOCK_CLASS, key=worker, name=APPLICATION_NAME
        )
        self._held = False
        self._keeping = asyncio.Lock()  # the lanes and housekeeping may ask at once
        self._own: int | None = None
        self._seen: set[int] = set()
        self._missing: set[int] = set()

    @property
    def held(self) -> bool:
        return self._held

    @property
    def may_claim(self) -> bool:
        return self._held and time.monotonic() >= self._claims_from

    async def keep(self) -> None:
        async with self._keeping:
            if self._held:
                try:
                    await self._lock.check()
                    return
                except Exception:
                    self._held = False
                    raise
            self._held = await self._lock.acquire()
            if self._held:
                self._claims_from = time.monotonic() + (
                    self._settle_seconds if await self._others_present() else 0.0
                )

    async def _others_present(self) -> bool:
        async with self._database.session(read_only=True) as session:
            others = await session.scalar(
                _OTHERS, {"class": PRESENCE_LOCK_CLASS, "worker": self._worker}
            )
        return bool(others)

    async def vanished(self, session: AsyncSession) -> list[int]:
        if self._own is None:
            self._own = int(await session.scalar(_OWN_KEY, {"worker": self._worker}) or 0)
        rows = await session.execute(_PRESENT_KEYS, {"class": PRESENCE_LOCK_CLASS})
        present = {_signed(objid) for (objid,) in rows} - {self._own}
        missing = self._seen - present
        gone = sorted(missing & self._missing)  # missing from two passes in a row
        self._missing = missing - set(gone)
        self._seen = (self._seen | present) - set(gone)
        return gone

    async def close(self) -> None:
        self._held = False
        await self._lock.close()


def _signed(objid: int) -> int:
    """`pg_locks.objid` (an unsigned oid) as the signed `hashtext` it was made from."""
    return objid - (1 << 32) if objid >= 1 << 31 else objid


def replica_presence(database: Database, worker: str) -> Presence:
    """The presence of the replica `worker` on this database."""
    if is_sqlite(database.engine):
        return AlonePresence()
    return LockedPresence(database, worker)
