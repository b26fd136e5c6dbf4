"""`notifier.store.sending`'s claims and records on PostgreSQL, one statement each, via asyncpg.

A claim leases the due deliveries, reads their people and counts the open alerts in one
statement (`FOR UPDATE SKIP LOCKED` in a CTE, as in `sending`); a record of sent messages is
one `UPDATE … FROM unnest(…)` whatever their number. Each statement is its own transaction,
so a claim or a record is one round trip to the server. The result is what `sending` gives:
the same `Claim`; the alerts the caller has not seen yet (once per alert) take one more. As
there, a lease ends on the database's clock: `now()` plus the lease, inside the statement.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Final, NamedTuple

import asyncpg

from notifier.domain import OPEN_ALERT_STATUSES, TEXTED, Channel, DeliveryStatus, Purpose
from notifier.store.sending import Claim, ClaimedDelivery, SentMessage

_OPEN: Final = ", ".join(f"'{status}'" for status in OPEN_ALERT_STATUSES)
_QUEUED: Final = DeliveryStatus.QUEUED.value
_SENDING: Final = DeliveryStatus.SENDING.value
_SENT: Final = DeliveryStatus.SENT.value

CLAIM: Final = f"""
WITH due AS (
    SELECT id FROM delivery
    WHERE status = '{_QUEUED}' AND channel = $1 AND next_attempt_at <= $2
    ORDER BY priority, next_attempt_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE delivery AS d
    SET status = '{_SENDING}', leased_by = $4, attempts = d.attempts + 1,
        lease_expires_at = now() + make_interval(secs => $5)
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d.alert_id, d.person, d.attempts, d.round, d.purpose, d.subject, d.body,
              d.priority
)
SELECT c.id, c.alert_id, c.person, c.attempts, c.round, c.purpose, c.subject, c.body,
       p.phone, p.email, p.language,
       (SELECT count(*) FROM alert WHERE status IN ({_OPEN})) AS open_alerts, c.priority
FROM claimed AS c
CROSS JOIN LATERAL (
    SELECT phone, email, language FROM person WHERE person.id = c.person OFFSET 0
) AS p
ORDER BY c.id
"""
"""Lease due deliveries of channel $1 (due by $2, at most $3) to worker $4 for $5 seconds
from the database's current time (not the caller's: `sending`'s docstring says why).

Its shape reads one row of each kind for each delivery it leases, whatever the planner's
statistics say, and a new alert's or roster's are not yet known to them:
- the due deliveries come in the claim's order from `ix_delivery_due`, which ends with the id
  (migration 0010), not sorted from all those due at the same moment;
- they are leased by primary key, with no second look at their status (the rows `due` locks
  stay queued until the statement ends); with one, the planner took the due index for a small
  one and compared every queued delivery with every one leased (35 ms a claim of 50 among
  3,000);
- each person is looked up by primary key (`OFFSET 0` keeps the lookup from being merged into
  a join planned otherwise): as a join, every claim read the whole people's table (1.3 ms of
  a 3.5 ms claim of 64 with 10,000 people).
"""

SEVERAL_OPEN_ALERTS: Final = f"""
SELECT p.person FROM unnest($1::bigint[]) AS p(person)
WHERE (
    SELECT count(*) FROM alert AS a JOIN recipient AS r ON r.alert_id = a.id
    WHERE r.person = p.person AND a.status IN ({_OPEN})
) > 1
"""
"""Those of the people $1 sent more than one open alert: for each person, a lookup of each
open alert's recipient by its primary key. Written as a count for each person, the plan
does not hang on the planner's estimate of an alert's size: as a join, with a new alert taken
for a small one, every recipient of the open alerts was read (100 ms a claim during a
50,000-person drill)."""

ALERTS: Final = """
SELECT id, status, code, kind, severity, title, message, messages, created_at
FROM alert WHERE id = ANY($1::bigint[])
"""
"""The alerts $1, with what sending them needs."""

MARK_SENT: Final = f"""
UPDATE delivery AS d
SET status = '{_SENT}', provider_id = s.provider_id, sent_at = $5, lease_expires_at = NULL,
    last_error = NULL, segments = s.segments, cost_micros = s.cost_micros
FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[])
    AS s(id, provider_id, segments, cost_micros)
WHERE d.id = s.id AND d.status IN ('{_QUEUED}', '{_SENDING}')
"""
"""Record sent messages (ids $1, provider ids $2, segments $3, prices $4) as sent at $5."""

_PURPOSES = {purpose.value: purpose for purpose in Purpose}


class AlertRow(NamedTuple):
    """An alert's columns that sending it needs, as `sending`'s rows of the alert table."""

    id: int
    status: str
    code: str
    kind: str
    severity: str
    title: str
    message: str
    messages: dict[str, str]
    created_at: datetime


async def claim_with_details(
    connection: asyncpg.Connection,
    channel: Channel,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta,
    known_alerts: Collection[int],
) -> Claim:
    """`sending.claim_with_details`: the deliveries, their people, the alerts not in
    `known_alerts`, and who has several open alerts (asked for SMS only, and only when
    several alerts are open). The lease runs from the database's time, as there."""
    until = now + lease  # the caller's own reckoning of the lease (`ClaimedDelivery.lease_until`)
    rows = await connection.fetch(CLAIM, channel.value, now, limit, worker, lease.total_seconds())
    if not rows:
        return Claim([])
    deliveries: list[ClaimedDelivery] = []
    people: dict[int, tuple[int, str | None, str | None, str]] = {}
    for row in rows:
        person = row[2]
        deliveries.append(
            ClaimedDelivery(
                row[0], row[1], person, channel, row[3], row[4], until,
                _PURPOSES[row[5]], row[6], row[7], row[12],
            )
        )  # fmt: skip
        people[person] = (person, row[8], row[9], row[10])
    several: set[int] = set()
    if channel in TEXTED and rows[0][11] > 1:
        several = {row[0] for row in await connection.fetch(SEVERAL_OPEN_ALERTS, sorted(people))}
    unseen = sorted({delivery.alert_id for delivery in deliveries}.difference(known_alerts))
    alerts: dict[int, AlertRow] = {}
    if unseen:
        for found in await connection.fetch(ALERTS, unseen):
            alerts[found["id"]] = AlertRow(
                **{name: found[name] for name in AlertRow._fields if name != "messages"},
                messages=json.loads(found["messages"] or "{}"),
            )
    return Claim(deliveries, people, alerts, several)


async def mark_sent(
    connection: asyncpg.Connection, sent: Sequence[SentMessage], now: datetime
) -> None:
    """`sending.mark_sent`: record accepted messages, in one statement for them all."""
    if not sent:
        return
    await connection.execute(
        MARK_SENT,
        [row.delivery_id for row in sent],
        [row.provider_id for row in sent],
        [row.segments for row in sent],
        [row.cost_micros for row in sent],
        now,
    )
