"""Materialisation: an alert's audience becomes deliveries, a batch of people at a time.

Each batch is a handful of statements whatever its size: which channels reach each person is
decided in SQL (`INSERT … SELECT`), so no row passes through Python. The rule, for the
channels the officer chose: every chosen channel that reaches the person; if none does, the
first of SMS and e-mail that does, since for a life-safety message reaching them matters
more. An opted-out number does not reach anyone, and is counted when SMS was chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import AlertStatus, Channel
from notifier.store.outbox import insert_ignoring_duplicates
from notifier.store.sending import QUEUED
from notifier.store.tables import ALERT, DELIVERY, PERSON, PERSON_GROUP, RECIPIENT

FIRST_BATCH = 100
"""People in an alert's first batch: small, so that its first messages leave sooner."""


@dataclass(frozen=True, slots=True)
class Materialised:
    """What one materialisation batch did."""

    recipients: int
    deliveries: int
    finished: bool


async def alerts_to_materialise(session: AsyncSession) -> list[tuple[int, int]]:
    """Alerts still being dispatched whose audience is not yet fully in the outbox, most
    urgent first: (id, priority) of each."""
    query = (
        select(ALERT.c.id, ALERT.c.priority)
        .where(ALERT.c.status == AlertStatus.DISPATCHING.value, ALERT.c.materialised_at.is_(None))
        .order_by(ALERT.c.priority, ALERT.c.id)
    )
    return [(alert_id, priority) for alert_id, priority in (await session.execute(query)).all()]


async def materialise_batch(
    session: AsyncSession, alert_id: int, batch_size: int, now: datetime
) -> Materialised:
    """`materialise` in an async session."""
    return await session.run_sync(
        lambda sync: materialise(sync.connection(), alert_id, batch_size, now)
    )


def materialise(
    connection: Connection, alert_id: int, batch_size: int, now: datetime
) -> Materialised:
    """Add the next `batch_size` people of the alert's audience, by person id, to the outbox.

    Resumable and safe to run from several replicas: the alert's cursor moves only by
    compare-and-set, and a batch that lost the race writes nothing.
    """
    alert = connection.execute(select(ALERT).where(ALERT.c.id == alert_id)).one()
    if alert.status != AlertStatus.DISPATCHING.value or alert.materialised_at is not None:
        return Materialised(0, 0, True)
    if alert.materialise_cursor == 0:
        batch_size = min(batch_size, FIRST_BATCH)
    wanted = {Channel(name) for name in alert.channels}
    reach = Reach(wanted)
    audience = and_(PERSON.c.id > alert.materialise_cursor, audience_condition(alert.audience))
    batch = (
        select(PERSON.c.id, PERSON.c.active, reach.skipped.label("skipped"), reach.any.label("any"))
        .where(audience)
        .order_by(PERSON.c.id)
        .limit(batch_size)
        .subquery("batch")
    )
    active = batch.c.active
    size, last, inactive, opted_out, recipients = connection.execute(
        select(
            func.count(),
            func.max(batch.c.id),
            func.coalesce(func.sum(case((active, 0), else_=1)), 0),
            func.coalesce(func.sum(case((and_(active, batch.c.skipped), 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(active, batch.c.any), 1), else_=0)), 0),
        ).select_from(batch)
    ).one()
    finished = size < batch_size
    moved = connection.execute(
        update(ALERT)
        .where(
            ALERT.c.id == alert_id,
            ALERT.c.materialise_cursor == alert.materialise_cursor,
            ALERT.c.status == AlertStatus.DISPATCHING.value,
        )
        .values(
            materialise_cursor=last if size else alert.materialise_cursor,
            skipped_inactive=ALERT.c.skipped_inactive + inactive,
            skipped_opted_out=ALERT.c.skipped_opted_out + opted_out,
            recipients=ALERT.c.recipients + recipients,
            materialised_at=now if finished else None,
        )
    )
    if moved.rowcount != 1:  # another replica moved the cursor first; nothing was written
        return Materialised(0, 0, False)
    if not recipients:
        return Materialised(0, 0, finished)
    these = and_(audience, PERSON.c.id <= last, PERSON.c.active)
    connection.execute(
        insert_ignoring_duplicates(connection, RECIPIENT).from_select(
            ["alert_id", "person", "station_code"],
            select(literal(alert_id), PERSON.c.id, PERSON.c.station_code).where(these, reach.any),
        )
    )
    deliveries = 0
    for channel in (Channel.SMS, Channel.EMAIL):
        queued = connection.execute(
            insert_ignoring_duplicates(connection, DELIVERY).from_select(
                [
                    "alert_id",
                    "person",
                    "channel",
                    "round",
                    "status",
                    "priority",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                ],
                select(
                    literal(alert_id),
                    PERSON.c.id,
                    literal(channel.value),
                    literal(0),
                    literal(QUEUED),
                    literal(alert.priority),
                    literal(0),
                    literal(now, DELIVERY.c.next_attempt_at.type),
                    literal(now, DELIVERY.c.created_at.type),
                ).where(these, reach.chosen(channel)),
            )
        )
        deliveries += max(queued.rowcount, 0)
    return Materialised(recipients, deliveries, finished)


class Reach:
    """The SQL conditions saying which channels reach a person, for the channels wanted."""

    def __init__(self, wanted: set[Channel]) -> None:
        has_phone = func.coalesce(PERSON.c.phone, "") != ""
        self.sms = and_(has_phone, not_(PERSON.c.sms_opted_out))
        self.email = func.coalesce(PERSON.c.email, "") != ""
        self.any = or_(self.sms, self.email)
        self.skipped = and_(has_phone, PERSON.c.sms_opted_out) if Channel.SMS in wanted else false()
        usable = {Channel.SMS: self.sms, Channel.EMAIL: self.email}
        self._wanted = wanted
        self._none_wanted = not_(or_(false(), *(usable[channel] for channel in wanted)))

    def chosen(self, channel: Channel) -> ColumnElement[bool]:
        """Whether `channel` carries the alert to the person (the rule in the module docstring)."""
        if channel is Channel.SMS:
            fallback = self._none_wanted
            return and_(self.sms, true() if channel in self._wanted else fallback)
        fallback = and_(self._none_wanted, not_(self.sms))
        return and_(self.email, true() if channel in self._wanted else fallback)


def fallback_condition(wanted: set[Channel], channel: Channel) -> ColumnElement[bool]:
    """Whether `channel`, which the officer did not choose, carries the alert to the person
    because none of the chosen channels reaches them (the rule in the module docstring)."""
    if channel in wanted:
        return false()
    return Reach(wanted).chosen(channel)


def audience_condition(audience: Mapping[str, list[str]]) -> ColumnElement[bool]:
    """Who an alert's audience names: people of its stations (in its groups, if any) and by id."""
    stations, groups, people = audience["stations"], audience["groups"], audience["people"]
    conditions: list[ColumnElement[bool]] = []
    if stations:
        conditions.append(PERSON.c.station_code.in_(stations))
        if groups:
            members = select(PERSON_GROUP.c.person).where(PERSON_GROUP.c.name.in_(groups))
            conditions[0] = and_(conditions[0], PERSON.c.id.in_(members))
    if people:
        conditions.append(PERSON.c.person_id.in_(people))
    return or_(*conditions)
