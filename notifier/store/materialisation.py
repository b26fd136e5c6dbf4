"""Materialisation: an alert's audience becomes deliveries, a batch of people at a time.

Each batch is a handful of statements whatever its size: which channels reach each person is
decided in SQL (`INSERT … SELECT`), so no row passes through Python. The rule (`Reach`), for
the channels the officer chose: every one of the person's channels (the roster's `channels`,
else SMS and e-mail) that carries a chosen one and reaches them; if none does, the first of
their channels that does, since for a life-safety message reaching them matters more. An
opted-out number takes no SMS, and is counted when SMS was chosen.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

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

from notifier.domain import TEXTED, AlertStatus, Channel
from notifier.store.outbox import insert_ignoring_duplicates
from notifier.store.sending import QUEUED
from notifier.store.sql_functions import position_in
from notifier.store.tables import ALERT, DELIVERY, PERSON, PERSON_GROUP, RECIPIENT

BASIC: Final = frozenset({Channel.SMS, Channel.EMAIL})
"""The channels every replica sends on; WhatsApp and voice only when configured."""
FIRST_BATCH = 100
"""People in an alert's first batch: small, so that its first messages leave sooner."""


@dataclass(frozen=True, slots=True)
class Materialised:
    """What one materialisation batch did; `busy`: nothing, another replica being at a batch
    of the same alert."""

    recipients: int
    deliveries: int
    finished: bool
    busy: bool = False


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
    session: AsyncSession,
    alert_id: int,
    batch_size: int,
    now: datetime,
    *,
    sending: Collection[Channel] = BASIC,
) -> Materialised:
    """`materialise` in an async session."""
    return await session.run_sync(
        lambda sync: materialise(sync.connection(), alert_id, batch_size, now, sending=sending)
    )


def materialise(
    connection: Connection,
    alert_id: int,
    batch_size: int,
    now: datetime,
    *,
    sending: Collection[Channel] = BASIC,
) -> Materialised:
    """Add the next `batch_size` people of the alert's audience, by person id, to the outbox;
    `sending`: the channels this replica sends on (WhatsApp and voice when configured; `Reach`).

    Resumable and safe to run from several replicas: the alert's cursor moves only by
    compare-and-set, and a batch that lost the race writes nothing. On PostgreSQL a batch
    holds the alert's row until it commits, and a replica that finds it held goes on at once
    (`busy`) rather than wait for the batch and then find the cursor moved: an emergency
    raised meanwhile is not kept waiting behind a drill's batch on every replica.
    """
    query = select(ALERT).where(ALERT.c.id == alert_id)
    if connection.dialect.name == "postgresql":
        # FOR NO KEY UPDATE, as the cursor's update takes: the answers' confirmations and
        # other rows that name the alert (FOR KEY SHARE) are not held up by it.
        query = query.with_for_update(skip_locked=True, key_share=True)
    alert = connection.execute(query).one_or_none()
    if alert is None:  # held by another replica's batch (alerts are never deleted)
        return Materialised(0, 0, False, busy=True)
    if alert.status != AlertStatus.DISPATCHING.value or alert.materialised_at is not None:
        return Materialised(0, 0, True)
    if alert.materialise_cursor == 0:
        batch_size = min(batch_size, FIRST_BATCH)
    wanted = {Channel(name) for name in alert.channels}
    reach = Reach(wanted, sending=sending)
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
    for channel in sorted(BASIC.union(sending)):  # none on a channel not sent on
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
    """The SQL conditions saying which channels reach a person, for the channels wanted.

    A person's channels are those of the roster's `channels` column, in their order (none
    listed: SMS, then e-mail). The officer's SMS is carried by each of the person's texted
    channels (SMS, WhatsApp) and by voice if they chose it, their e-mail by e-mail, their
    voice by a call to everyone with a phone. WhatsApp and voice are sent only when this
    replica sends on them (`sending`); without WhatsApp, it counts as SMS in the person's
    list. A channel reaches a person who has its contact: a phone for SMS (not opted out),
    WhatsApp and voice, an address for e-mail. If none of their channels carrying the
    officer's choice reaches them, the first that does carries the alert: of their channels
    in their order, then SMS, e-mail, WhatsApp, voice.
    """

    def __init__(self, wanted: set[Channel], *, sending: Collection[Channel] = BASIC) -> None:
        has_phone = func.coalesce(PERSON.c.phone, "") != ""
        opted_out = PERSON.c.sms_opted_out

        def phone_if_sent(channel: Channel) -> ColumnElement[bool]:
            return and_(has_phone, true() if channel in sending else false())

        self._contact = {
            Channel.SMS: and_(has_phone, not_(opted_out)),
            Channel.EMAIL: func.coalesce(PERSON.c.email, "") != "",
            Channel.WHATSAPP: phone_if_sent(Channel.WHATSAPP),
            Channel.VOICE: phone_if_sent(Channel.VOICE),
        }
        rank = _ranks(whatsapp=Channel.WHATSAPP in sending)
        self._order = {
            channel: case((rank[channel] > 0, rank[channel]), else_=_LAST + FALLBACK_ORDER[channel])
            for channel in Channel
        }
        listed = {channel: and_(self._contact[channel], rank[channel] > 0) for channel in Channel}
        self._called = Channel.VOICE in wanted  # the officer's voice: everyone with a phone
        if self._called:
            listed[Channel.VOICE] = self._contact[Channel.VOICE]
        self._carrying = carrying(wanted)
        self._listed = listed
        self.any = or_(*self._contact.values())
        self.skipped = (
            and_(has_phone, opted_out, rank[Channel.SMS] > 0) if Channel.SMS in wanted else false()
        )
        self._none_carrying = not_(or_(false(), *(listed[channel] for channel in self._carrying)))

    def chosen(self, channel: Channel) -> ColumnElement[bool]:
        """Whether `channel` carries the alert to the person (the rule above)."""
        earlier = [
            and_(self._contact[other], self._order[other] < self._order[channel])
            for other in Channel
            if other is not channel
        ]
        fallback = and_(self._none_carrying, self._contact[channel], not_(or_(false(), *earlier)))
        if channel in self._carrying:
            return or_(self._listed[channel], fallback)
        return fallback


def carrying(wanted: set[Channel]) -> set[Channel]:
    """The channels that carry what the officer chose: their SMS goes by any texted channel
    and by voice (to those who chose it)."""
    texted = set(TEXTED) | {Channel.VOICE} if Channel.SMS in wanted else set()
    return set(wanted) | texted


DEFAULT_RANKS: Final = {Channel.SMS: 1, Channel.EMAIL: 2, Channel.WHATSAPP: 0, Channel.VOICE: 0}
"""Each channel's place among the channels of a person who lists none (0: not theirs)."""
FALLBACK_ORDER: Final = {Channel.SMS: 1, Channel.EMAIL: 2, Channel.WHATSAPP: 3, Channel.VOICE: 4}
"""After a person's own channels, the order in which the others may carry an alert."""
_LAST = 1000
"""Past any place in a person's list (a position in a text of at most 64 characters)."""


def _ranks(*, whatsapp: bool) -> dict[Channel, ColumnElement[int]]:
    """Each channel's place in the person's order (a position in the text: only the order
    counts), 0 when not theirs; without WhatsApp, SMS takes its place if earlier."""
    listed = PERSON.c.channels
    bounded = literal(",").concat(listed).concat(",")
    rank: dict[Channel, ColumnElement[int]] = {
        channel: case(
            (listed == "", DEFAULT_RANKS[channel]),
            else_=position_in(bounded, f",{channel.value},"),
        )
        for channel in Channel
    }
    if not whatsapp:
        sms, texted = rank[Channel.SMS], rank[Channel.WHATSAPP]
        rank[Channel.SMS] = case(
            (sms == 0, texted), (texted == 0, sms), (sms < texted, sms), else_=texted
        )
        rank[Channel.WHATSAPP] = literal(0)
    return rank


def fallback_condition(wanted: set[Channel], channel: Channel) -> ColumnElement[bool]:
    """Whether `channel`, which carries nothing the officer chose, carries the alert to the
    person because none that does reaches them (the rule of `Reach`)."""
    if channel in carrying(wanted):
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
