"""Waiting out a database that is away (a failover, a restart, a locked SQLite file).

Every loop that works on the database goes on by itself once it is back. Which errors mean
"away", and so are waited out rather than treated as a fault of the program:

    Exception
    ├── OSError (ConnectionError, TimeoutError …)            refused, reset, timed out
    ├── sqlalchemy DBAPIError with connection_invalidated    a connection broken mid-use
    ├── sqlalchemy OperationalError, InterfaceError          PostgreSQL drivers: the connection
    ├── an error with a SQLSTATE of class 08, 53 or 57       connection lost, too many
    │                                                        connections, server shutting down
    └── sqlite3 errors BUSY, LOCKED, IOERR, CANTOPEN         another process holds the lock
    (or any of these as the `orig` or `__cause__` of another)

Anything else is a fault of the program: logged with its traceback, and the loop goes on
after a pause, since a loop that stops leaves people unwarned. Pauses grow from half a
second to ten, with jitter, so neither the log nor the database is flooded, and a loop
that gets through wakes the others at once.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import structlog
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

log = structlog.get_logger(__name__)

T = TypeVar("T")

UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
"""Connection exception, insufficient resources, operator intervention (shutdown, restart)."""

UNAVAILABLE_SQLITE_CODES = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached now, rather than a fault."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _means_unavailable(current):
            return True
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def _means_unavailable(error: BaseException) -> bool:
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in UNAVAILABLE_SQLITE_CODES
        return "database is locked" in str(error)
    if isinstance(error, OSError | DisconnectionError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, OperationalError | InterfaceError):
            return not isinstance(error.orig, sqlite3.Error)  # SQLite's: judged by their code
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES


def describe(error: BaseException) -> str:
    """The error's class and the first line of its message, for one log line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


@dataclass(frozen=True, slots=True)
class Backoff:
    """Pauses between tries: `first` seconds, doubling up to `most`, each between half and all."""

    first: float = 0.5
    most: float = 10.0
    jitter: Callable[[], float] = random.random

    def pause(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (1 for the first)."""
        doublings = min(max(failures - 1, 0), 30)
        full = min(self.most, self.first * 2.0**doublings)
        return full * (0.5 + self.jitter() / 2)


@dataclass
class Outages:
    """What the loops of one process know of their database's availability, shared by all.

    The first loop to find the database away logs `database_unavailable`; once every loop
    that found it away has got through again, `database_available` is logged: one pair of
    lines per outage, however many loops and tries.
    """

    backoff: Backoff = field(default_factory=Backoff)
    _away: dict[str, str] = field(default_factory=dict)
    _since: float = 0.0
    _through: asyncio.Event | None = None

    @property
    def waiting(self) -> frozenset[str]:
        """The loops waiting for the database now."""
        return frozenset(self._away)

    def guard(self, loop: str, stopping: asyncio.Event | None = None) -> LoopGuard:
        """An async context manager for each pass of `loop` (see `LoopGuard`)."""
        return LoopGuard(self, loop, stopping)

    async def retry(self, loop: str, work: Callable[[], Awaitable[T]]) -> T:
        """`await work()` until it is done, waiting out outages; other errors are raised."""
        failures = 0
        while True:
            try:
                result = await work()
            except Exception as error:
                if not is_unavailable(error):
                    raise
                failures += 1
                self.went_away(loop, error)
                await self.pause(failures)
                continue
            self.got_through(loop)
            return result

    def went_away(self, loop: str, error: BaseException) -> None:
        """`loop` found the database unreachable."""
        if not self._away:
            self._since = time.monotonic()
            log.warning("database_unavailable", loop=loop, error=describe(error))
        self._away.setdefault(loop, describe(error))

    def got_through(self, loop: str) -> None:
        """`loop` worked on the database: wake the loops still pausing to try again now."""
        if self._away.pop(loop, None) is None:
            return
        if self._through is not None:
            self._through.set()
            self._through = None
        if not self._away:
            seconds = round(time.monotonic() - self._since, 3)
            log.info("database_available", loop=loop, seconds=seconds)

    async def pause(self, failures: int, stopping: asyncio.Event | None = None) -> None:
        """Wait before the next try: the backoff's time, or less if a loop got through."""
        if self._through is None:
            self._through = asyncio.Event()
        waiters = {asyncio.ensure_future(self._through.wait())}
        if stopping is not None:
            waiters.add(asyncio.ensure_future(stopping.wait()))
        try:
            await asyncio.wait(
                waiters, timeout=self.backoff.pause(failures), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()


class LoopGuard:
    """Around each pass of a loop: a pass that fails is logged once and paused after.

    ```
    guard = database.outages.guard("housekeeping", stopping)
    while not stopping.is_set():
        async with guard:
            ...  # one pass's work on the database
        if guard.passed:
            ...  # wait for more work
    ```
    An outage pauses with backoff until the database is back; any other error is logged with
    its traceback and paused after the same way. The loop then goes round again.
    """

    def __init__(self, outages: Outages, loop: str, stopping: asyncio.Event | None) -> None:
        self._outages = outages
        self._loop = loop
        self._stopping = stopping
        self._failures = 0

    @property
    def passed(self) -> bool:
        """Whether the last pass got through (if not, the guard has paused already)."""
        return self._failures == 0

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if error is None:
            self._failures = 0
            self._outages.got_through(self._loop)
            return False
        if not isinstance(error, Exception):  # cancellation, exit: not ours to stop
            return False
        self._failures += 1
        if is_unavailable(error):
            self._outages.went_away(self._loop, error)
        else:
            log.error("loop_failed", loop=self._loop, exc_info=error)
        await self._outages.pause(self._failures, self._stopping)
        return True
