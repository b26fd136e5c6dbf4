"""Pooled connections to a network database pinged before use, once they have been idle.

A server restarted, or a connection cut by a firewall, leaves the pool holding connections
that fail at their next statement. SQLAlchemy's `pool_pre_ping` finds them by pinging at
every checkout; on asyncpg a ping is a transaction of its own (three round trips), and
measured during a burst of replies the pings took 3 % of a replica's loop. A connection given
back moments ago is all but sure to be alive, so only one idle for longer is pinged. One cut
within that moment fails its next statement, which marks every connection of the pool as
stale, as an outage does (`notifier.store.outage`), and is waited out like one.
"""

from __future__ import annotations

import time
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

IDLE_SECONDS: Final = 1.0
"""A connection given back longer ago than this is pinged before it is used again."""

_GIVEN_BACK_AT: Final = "notifier_given_back_at"


def ping_when_idle(engine: AsyncEngine, idle_seconds: float = IDLE_SECONDS) -> None:
    """Have the engine's pool ping a connection at checkout if it has been idle for longer
    than `idle_seconds`, and replace it if the ping fails."""
    pool_events = engine.sync_engine
    dialect = pool_events.dialect

    def given_back(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_GIVEN_BACK_AT] = time.monotonic()

    def taken(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        given_back_at = record.info.get(_GIVEN_BACK_AT)
        if given_back_at is None or time.monotonic() - given_back_at <= idle_seconds:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool closes it and takes another (a new one if the rest fail likewise).
            raise DisconnectionError(f"a pooled connection failed its ping: {error}") from error

    event.listen(pool_events, "checkin", given_back)
    event.listen(pool_events, "checkout", taken)
