"""Calls in the outbox: what an answered call is about, and how a call that ended moves its
delivery (delivered and priced by the minute, called again later, or failed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import (
    OPEN_ALERT_STATUSES,
    Channel,
    DeliveryStatus,
    Language,
    Purpose,
)
from notifier.messages import AlertContent, alert_content
from notifier.store.outbox import reopen
from notifier.store.tables import ALERT, DELIVERY, PERSON

CALL_ANSWERED = "completed"
"""The one final call state in which someone (or something) answered."""


@dataclass(frozen=True, slots=True)
class CallTarget:
    """What a call is about: the alert's words, the person called and their language, and
    whether the alert still takes answers."""

    alert_id: int
    person: int
    language: Language
    content: AlertContent
    open: bool


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How many calls a person gets for one round, how long apart, and the price a minute."""

    max_attempts: int
    retry: timedelta
    minute_micros: int


async def call_target(session: AsyncSession, delivery_id: int) -> CallTarget | None:
    """The alert and person of a call delivery; None when no such call is in the outbox."""
    d, a = DELIVERY.c, ALERT.c
    row = (
        await session.execute(
            select(
                d.alert_id,
                d.person,
                PERSON.c.language,
                a.code,
                a.kind,
                a.severity,
                a.title,
                a.message,
                a.messages,
                a.status,
            )
            .join(ALERT, a.id == d.alert_id)
            .join(PERSON, PERSON.c.id == d.person)
            .where(
                d.id == delivery_id,
                d.channel == Channel.VOICE.value,
                d.purpose == Purpose.ALERT.value,
            )
        )
    ).first()
    if row is None:
        return None
    return CallTarget(
        row.alert_id,
        row.person,
        Language(row.language),
        alert_content(row),
        open=row.status in OPEN_ALERT_STATUSES,
    )


async def record_call_end(
    session: AsyncSession,
    delivery_id: int,
    call_sid: str,
    status: str,
    seconds: int,
    now: datetime,
    policy: CallPolicy,
) -> DeliveryStatus | None:
    """Move the sent call `call_sid` of the delivery on, by how the call ended: `completed`
    is delivered, priced by the minute begun; busy, no answer, failed or canceled is called
    again after `policy.retry` while the person has had fewer than `policy.max_attempts`
    calls, else failed. A call not sent, or a callback told twice, changes nothing."""
    d = DELIVERY.c
    sent = (
        await session.execute(
            select(d.alert_id, d.attempts).where(
                d.id == delivery_id,
                d.channel == Channel.VOICE.value,
                d.provider_id == call_sid,
                d.status == DeliveryStatus.SENT.value,
            )
        )
    ).first()
    if sent is None:
        return None
    if status == CALL_ANSWERED:
        target = DeliveryStatus.DELIVERED
        minutes = math.ceil(seconds / 60) if seconds > 0 else 0
        values: dict[str, object] = {
            "delivered_at": now,
            "cost_micros": minutes * policy.minute_micros,
        }
    elif sent.attempts < policy.max_attempts:
        target = DeliveryStatus.QUEUED
        values = {
            "next_attempt_at": now + policy.retry,
            "leased_by": None,
            "lease_expires_at": None,
            "last_error": f"call {status}",
        }
    else:
        target = DeliveryStatus.FAILED
        values = {"failed_at": now, "last_error": f"call {status}, {sent.attempts} calls"}
    await session.execute(
        update(DELIVERY)
        .where(d.id == delivery_id, d.status == DeliveryStatus.SENT.value)
        .values(status=target.value, **values)
    )
    if target is DeliveryStatus.QUEUED:
        await reopen(session, sent.alert_id)
    return target
