"""The statements the dispatcher runs for every message: claim due deliveries, record sent ones.

They run for every message of every alert, so they are built once, here, and run as plain
functions on a connection inside one transaction (`Database.run`): on SQLite a synchronous
connection in a thread of its own, without the async adapter's cost on every statement.

Claiming is the one place where replicas compete. On PostgreSQL the due rows are locked with
`FOR UPDATE SKIP LOCKED`; SQLite ignores row locks, so there the claim is a single conditional
`UPDATE … WHERE status = 'queued' … RETURNING`, which SQLite runs under its one writer lock.
Either way no delivery is handed to two workers while its lease holds.

Leases are kept on the database's clock, never a replica's: a claim writes the lease's end as
the database's time plus the lease, and `outbox.reclaim_expired` compares with the database's
time too (`database_now`). A replica whose clock is an hour ahead then takes nobody's live
deliveries, and one whose clock is behind grants no lease that is over before it begins. The
claimer keeps its own reckoning of the lease (`ClaimedDelivery.lease_until`), on its own
clock, to give up what it can no longer send in time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Integer,
    Interval,
    String,
    Update,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from notifier.domain import OPEN_ALERT_STATUSES, TEXTED, Channel, DeliveryStatus, Purpose
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT

QUEUED = DeliveryStatus.QUEUED.value
SENDING = DeliveryStatus.SENDING.value

_CHANNELS = {channel.value: channel for channel in Channel}
_PURPOSES = {purpose.value: purpose for purpose in Purpose}


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker holds the lease on."""

    id: int
    alert_id: int
    person: int
    channel: Channel
    attempts: int
    round: int
    lease_until: datetime
    """The end of the lease as the claimer reckons it, on its own clock: the `now` it claimed
    with plus the lease. The database's lease begins later, on the database's clock, so while
    the claimer's clock runs on (and is not set back) the database's lease outlasts this one."""
    purpose: Purpose = Purpose.ALERT
    subject: str | None = None
    body: str | None = None
    priority: int = 0
    """Its alert's: 0 for an emergency, then tests, then drills (`PRIORITY_OF_KIND`)."""


class SentMessage(NamedTuple):
    """A message its provider accepted: the delivery, the provider's id, and what it cost
    (an SMS's segments, None for an e-mail; millionths of the configured currency)."""

    delivery_id: int
    provider_id: str
    segments: int | None = None
    cost_micros: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """Deliveries just leased, with what sending them needs from the database."""

    deliveries: list[ClaimedDelivery]
    people: dict[int, Any] = field(default_factory=dict)
    """Contact details and language (rows with id, phone, email, language) by person id."""
    alerts: dict[int, Any] = field(default_factory=dict)
    """Rows of the deliveries' alerts the caller did not already know, by alert id."""
    several: set[int] = field(default_factory=set)
    """People sent more than one open alert (asked for SMS only: the SMS names the alert)."""


def database_now(dialect: str, *, ahead: ColumnElement[float] | None = None) -> ColumnElement[Any]:
    """The database's current time (`ahead` seconds on), as the outbox's timestamps are stored.

    PostgreSQL: `now()`, the start of the transaction, a `timestamptz` like the columns.
    SQLite has no time type: SQLAlchemy stores a timestamp as text, `YYYY-MM-DD HH:MM:SS.ffffff`
    in UTC (`types.UTCDateTime` turns it to UTC first), and SQLite compares such text
    character by character, which is in time order only between texts of that very form. So
    the time is written in it: `strftime('%Y-%m-%d %H:%M:%f', 'now')` (UTC, to the
    millisecond, the same for the whole statement) followed by `000` for the microseconds. The
    lease's seconds go in as a modifier, `+60.000 seconds`.
    """
    if dialect == "postgresql":
        now: ColumnElement[Any] = func.now()
        if ahead is None:
            return now
        return now + ahead * literal_column("interval '1 second'", type_=Interval())
    modifiers = [] if ahead is None else [func.printf(literal_column("'%+.3f seconds'"), ahead)]
    stamp = func.strftime(
        literal_column("'%Y-%m-%d %H:%M:%f'"), literal_column("'now'"), *modifiers, type_=String()
    )
    return stamp + literal_column("'000'")


def _claim_statement(dialect: str) -> Update:
    c = DELIVERY.c
    due = (
        select(c.id)
        .where(
            c.status == QUEUED,
            c.channel == bindparam("due_channel"),
            c.next_attempt_at <= bindparam("due_by", type_=c.next_attempt_at.type),
        )
        .order_by(c.priority, c.next_attempt_at, c.id)
        .limit(bindparam("due_limit", type_=Integer()))
    )
    if dialect == "postgresql":  # SQLite has no row locks: its one writer claims alone
        due = due.with_for_update(skip_locked=True)
    # A CTE runs once. As a plain `IN (subquery)`, PostgreSQL may run the locking subquery
    # again for every row it updates, each time skipping the rows it has just updated, and
    # so claim far more than `limit` (measured: 60 rows for a limit of 7).
    chosen = due.cte("due")
    return (
        update(DELIVERY)
        .where(c.id.in_(select(chosen.c.id)), c.status == QUEUED)
        .values(
            status=SENDING,
            leased_by=bindparam("worker"),
            # The database's clock, not the claimer's: see the module's docstring.
            lease_expires_at=database_now(dialect, ahead=bindparam("lease_seconds", type_=Float())),
            attempts=c.attempts + 1,
        )
        .returning(
            c.id,
            c.alert_id,
            c.person,
            c.channel,
            c.attempts,
            c.round,
            c.purpose,
            c.subject,
            c.body,
            c.priority,
        )
    )


_CLAIM = {dialect: _claim_statement(dialect) for dialect in ("postgresql", "sqlite")}

_ADDRESSEES = select(PERSON.c.id, PERSON.c.phone, PERSON.c.email, PERSON.c.language).where(
    PERSON.c.id.in_(bindparam("people", expanding=True))
)

_ALERTS = select(ALERT).where(ALERT.c.id.in_(bindparam("alerts", expanding=True)))

_SEVERAL_OPEN_ALERTS = (
    select(RECIPIENT.c.person)
    .join(ALERT, ALERT.c.id == RECIPIENT.c.alert_id)
    .where(
        RECIPIENT.c.person.in_(bindparam("people", expanding=True)),
        ALERT.c.status.in_(OPEN_ALERT_STATUSES),
    )
    .group_by(RECIPIENT.c.person)
    .having(func.count() > 1)
)

_OPEN_ALERTS = select(func.count()).where(ALERT.c.status.in_(OPEN_ALERT_STATUSES))

_MARK_SENT = (
    update(DELIVERY)
    # `IN` expands its parameters, which executemany refuses: spell the two states out.
    .where(
        DELIVERY.c.id == bindparam("delivery_id"),
        or_(DELIVERY.c.status == QUEUED, DELIVERY.c.status == SENDING),
    )
    .values(
        status=DeliveryStatus.SENT.value,
        provider_id=bindparam("accepted_as"),
        sent_at=bindparam("sent", type_=DELIVERY.c.sent_at.type),
        lease_expires_at=None,  # leased_by stays: which worker sent it
        last_error=None,
        # Priced as sent, at the prices configured then: a later change leaves them.
        segments=bindparam("sms_segments", type_=DELIVERY.c.segments.type),
        cost_micros=bindparam("price_micros", type_=DELIVERY.c.cost_micros.type),
    )
)


def claim(
    connection: Connection,
    channel: Channel,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> list[ClaimedDelivery]:
    """Lease up to `limit` deliveries of one channel due by `now` to `worker`, emergencies first.

    The lease runs for `lease` from the database's current time, whatever `now` says; each
    delivery's `lease_until` is `now + lease`, the claimer's own reckoning of its end.
    """
    until = now + lease
    result = connection.execute(
        _CLAIM[connection.dialect.name],
        {
            "due_channel": channel.value,
            "due_by": now,
            "due_limit": limit,
            "worker": worker,
            "lease_seconds": lease.total_seconds(),
        },
    )
    # Rows unpacked by position and enums looked up in dicts: this runs for every message.
    return [
        ClaimedDelivery(
            id_,
            alert_id,
            person,
            _CHANNELS[channel_name],
            attempts,
            round_,
            until,
            _PURPOSES[purpose_name],
            subject,
            body,
            priority,
        )
        for (
            id_,
            alert_id,
            person,
            channel_name,
            attempts,
            round_,
            purpose_name,
            subject,
            body,
            priority,
        ) in sorted(result.all(), key=lambda row: row[0])
    ]


def claim_with_details(
    connection: Connection,
    channel: Channel,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta,
    known_alerts: Collection[int],
) -> Claim:
    """`claim`, and in the same transaction the people, the unknown alerts and who has several."""
    deliveries = claim(connection, channel, limit, worker, now, lease)
    if not deliveries:
        return Claim([])
    people = sorted({d.person for d in deliveries})
    unseen = sorted({d.alert_id for d in deliveries}.difference(known_alerts))
    contacts = connection.execute(_ADDRESSEES, {"people": people}).all()
    alerts = connection.execute(_ALERTS, {"alerts": unseen}).all() if unseen else []
    several = several_open_alerts(connection, people) if channel in TEXTED else set()
    return Claim(
        deliveries,
        {row.id: row for row in contacts},
        {row.id: row for row in alerts},
        several,
    )


def several_open_alerts(connection: Connection, people: list[int]) -> set[int]:
    """Those of `people` who were sent more than one open alert: their SMS names the alert."""
    if not people or connection.execute(_OPEN_ALERTS).scalar_one() < 2:
        return set()  # with one alert open, nobody has two (the usual case: one cheap count)
    return set(connection.execute(_SEVERAL_OPEN_ALERTS, {"people": people}).scalars())


def mark_sent(
    connection: Connection, sent: Sequence[SentMessage | tuple[int, str]], now: datetime
) -> None:
    """Record accepted messages, whoever holds the lease now: one statement for them all.

    A (delivery id, provider id) pair is a message whose price is not known (left NULL).
    """
    if not sent:
        return
    rows = [row if isinstance(row, SentMessage) else SentMessage(*row) for row in sent]
    if connection.dialect.name == "sqlite":
        _MARK_SENT_ON_SQLITE.execute_many(connection, [(*row, now) for row in rows])
        return
    connection.execute(
        _MARK_SENT,
        [
            {
                "delivery_id": row.delivery_id,
                "accepted_as": row.provider_id,
                "sms_segments": row.segments,
                "price_micros": row.cost_micros,
                "sent": now,
            }
            for row in rows
        ],
    )


class _CompiledForSqlite:
    """A Core statement compiled once for SQLite, its rows bound by position.

    For an `executemany` that runs for every message: SQLAlchemy builds and converts each
    row's parameters one by one (about 7 µs a row, measured in the dispatcher), where here
    a row is a tuple filled from a template. `varying` names the parameters given per row, in
    the order of the rows' values; every other parameter is the statement's own constant.
    """

    def __init__(self, statement: Update, varying: tuple[str, ...]) -> None:
        dialect = sqlite_dialect()
        compiled = statement.compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        self._sql = compiled.string
        self._template: list[Any] = []
        for name in names:
            bind = compiled.binds[name]
            process = bind.type.bind_processor(dialect)
            value = None if name in varying else bind.value
            self._template.append(process(value) if process and value is not None else value)
        self._slots = [names.index(name) for name in varying]
        self._processors = [compiled.binds[name].type.bind_processor(dialect) for name in varying]

    def execute_many(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Run the statement once for each row of values (in `varying`'s order)."""
        bound = []
        for row in rows:
            values = self._template.copy()
            for slot, process, value in zip(self._slots, self._processors, row, strict=True):
                values[slot] = value if process is None else process(value)
            bound.append(tuple(values))
        connection.exec_driver_sql(self._sql, bound)


_MARK_SENT_ON_SQLITE = _CompiledForSqlite(
    _MARK_SENT, ("delivery_id", "accepted_as", "sms_segments", "price_micros", "sent")
)
