"""Answers to alerts: who may answer which alert, and recording an answer with its history.

Only a recipient of an open alert can answer it. Every answer is kept in `response`; the
recipient row holds the current one (the latest) and the time of the first, which is the
time to acknowledge. A provider's message id is recorded once, so a replayed webhook or a
re-delivered e-mail changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import OPEN_ALERT_STATUSES, AlertStatus, Channel, Language, ResponseKind
from notifier.store.outbox import insert_ignoring_duplicates
from notifier.store.tables import ALERT, PERSON, RECIPIENT, RESPONSE

MAX_TEXT = 1600


class Outcome(StrEnum):
    """What became of an answer."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # the provider's message id was recorded before
    NOT_RECIPIENT = "not_recipient"  # the person was not sent this alert
    NOT_OPEN = "not_open"  # the alert is cancelled or closed, or does not exist


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer to record: who, to what, what, how, and the provider's id if any."""

    alert_id: int
    person: int
    kind: ResponseKind
    channel: Channel
    text: str = ""
    provider_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class OpenAlertOfPerson:
    """An open alert a person was sent, as a reply by SMS needs it."""

    alert_id: int
    code: str
    person: int
    language: Language
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AckTarget:
    """An alert and a person, as the acknowledgement page shows them."""

    alert_id: int
    person: int
    title: str
    status: AlertStatus
    language: Language
    response: ResponseKind | None
    recipient: bool


async def record_answer(session: AsyncSession, answer: Answer, now: datetime) -> Outcome:
    """Keep the answer in the history and make it the recipient's current response."""
    alert_status = await session.scalar(select(ALERT.c.status).where(ALERT.c.id == answer.alert_id))
    if alert_status not in OPEN_ALERT_STATUSES:
        return Outcome.NOT_OPEN
    recipient = and_(RECIPIENT.c.alert_id == answer.alert_id, RECIPIENT.c.person == answer.person)
    if await session.scalar(select(func.count()).select_from(RECIPIENT).where(recipient)) == 0:
        return Outcome.NOT_RECIPIENT
    inserted = await session.execute(
        insert_ignoring_duplicates(session, RESPONSE)
        .values(
            alert_id=answer.alert_id,
            person=answer.person,
            kind=answer.kind.value,
            channel=answer.channel.value,
            text=answer.text[:MAX_TEXT],
            provider_message_id=answer.provider_message_id,
            received_at=now,
        )
        .returning(RESPONSE.c.id)
    )
    if inserted.scalar() is None:
        return Outcome.DUPLICATE
    await session.execute(
        update(RECIPIENT)
        .where(recipient)
        .values(
            response=answer.kind.value,
            last_response_at=now,
            first_response_at=func.coalesce(RECIPIENT.c.first_response_at, now),
        )
    )
    return Outcome.RECORDED


async def open_alerts_for_phone(session: AsyncSession, phone: str) -> list[OpenAlertOfPerson]:
    """The open alerts sent to the people with this phone number, newest first."""
    query = (
        select(
            ALERT.c.id,
            ALERT.c.code,
            ALERT.c.created_at,
            PERSON.c.id.label("person"),
            PERSON.c.language,
        )
        .join(RECIPIENT, RECIPIENT.c.alert_id == ALERT.c.id)
        .join(PERSON, PERSON.c.id == RECIPIENT.c.person)
        .where(PERSON.c.phone == phone, ALERT.c.status.in_(OPEN_ALERT_STATUSES))
        .order_by(ALERT.c.created_at.desc(), ALERT.c.id.desc(), PERSON.c.id)
    )
    return [
        OpenAlertOfPerson(row.id, row.code, row.person, Language(row.language), row.created_at)
        for row in await session.execute(query)
    ]


async def people_with_phone(session: AsyncSession, phone: str) -> list[tuple[int, Language]]:
    """Active people with this phone number, with their language."""
    query = (
        select(PERSON.c.id, PERSON.c.language)
        .where(PERSON.c.phone == phone, PERSON.c.active.is_(True))
        .order_by(PERSON.c.id)
    )
    return [(row.id, Language(row.language)) for row in await session.execute(query)]


async def answers_so_far(session: AsyncSession, alert_id: int, person: int) -> int:
    """How many answers the person has given to the alert (the history's length)."""
    query = (
        select(func.count())
        .select_from(RESPONSE)
        .where(RESPONSE.c.alert_id == alert_id, RESPONSE.c.person == person)
    )
    return int(await session.scalar(query) or 0)


async def any_opted_out(session: AsyncSession, phone: str) -> bool:
    """Whether someone with this number has turned SMS alerts off (STOP)."""
    query = select(func.count()).where(PERSON.c.phone == phone, PERSON.c.sms_opted_out.is_(True))
    return bool(await session.scalar(query))


async def set_sms_opt_out(session: AsyncSession, phone: str, opted_out: bool) -> int:
    """Turn SMS alerts off (STOP) or on again (START) for every person with this number."""
    result = await session.execute(
        update(PERSON).where(PERSON.c.phone == phone).values(sms_opted_out=opted_out)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def ack_target(session: AsyncSession, alert_id: int, person: int) -> AckTarget | None:
    """What the acknowledgement page needs to know; None if the alert or person is unknown."""
    query = (
        select(
            ALERT.c.title,
            ALERT.c.status,
            PERSON.c.language,
            RECIPIENT.c.person.label("sent"),
            RECIPIENT.c.response,
        )
        .select_from(ALERT)
        .join(PERSON, PERSON.c.id == person)
        .outerjoin(
            RECIPIENT, and_(RECIPIENT.c.alert_id == ALERT.c.id, RECIPIENT.c.person == person)
        )
        .where(ALERT.c.id == alert_id)
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    return AckTarget(
        alert_id=alert_id,
        person=person,
        title=row.title,
        status=AlertStatus(row.status),
        language=Language(row.language),
        response=ResponseKind(row.response) if row.response else None,
        recipient=row.sent is not None,
    )
