"""The dispatcher's claims and records, on whichever path its database is fastest by.

PostgreSQL through asyncpg goes straight to the driver (`sending_postgres`, on the database's
direct connections); SQLite, and PostgreSQL through psycopg, run `sending`'s Core statements
in one transaction (`Database.run`). Both give the same results, and both grant leases on the
database's clock (`sending.database_now`), whatever the caller's `now` says.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from notifier.domain import Channel
from notifier.store import sending, sending_postgres
from notifier.store.engine import Database
from notifier.store.sending import Claim, SentMessage


async def claim_with_details(
    database: Database,
    channel: Channel,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta,
    known_alerts: Collection[int],
) -> Claim:
    """Lease up to `limit` deliveries of `channel` due by `now`, with what sending them needs.

    The lease runs for `lease` from the database's time; `now + lease` is the caller's own
    reckoning of it (`ClaimedDelivery.lease_until`), to be compared with the caller's clock.
    """
    asked: dict[str, Any] = {
        "channel": channel,
        "limit": limit,
        "worker": worker,
        "now": now,
        "lease": lease,
        "known_alerts": known_alerts,
    }
    if database.direct is not None:
        return await database.direct.run(partial(sending_postgres.claim_with_details, **asked))
    return await database.run(partial(sending.claim_with_details, **asked))


async def mark_sent(database: Database, sent: Sequence[SentMessage], now: datetime) -> None:
    """Record accepted messages as sent, whoever holds their lease now."""
    if database.direct is not None:
        await database.direct.run(partial(sending_postgres.mark_sent, sent=sent, now=now))
    else:
        await database.run(partial(sending.mark_sent, sent=sent, now=now))
