"""Answers to alerts: who may answer which alert, and recording an answer with its history.

Only a recipient of an open alert can answer it. Every answer is kept in `response`; the
recipient row holds the current one and the time of the first, which is the time to
acknowledge. The current answer is the latest, except that "needs help" stands until the
person says they are safe: an answer that reads as neither ("come quickly") is kept with its
text, but the person still needs help. An answer with nothing in it (an MMS with only a
picture, an e-mail whose first line is empty or unreadable) records nothing. A provider's
message id is recorded once, so a replayed webhook or a re-delivered e-mail changes nothing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import OPEN_ALERT_STATUSES, AlertStatus, Channel, Language, ResponseKind
from notifier.replies import says_more
from notifier.store.outbox import insert_ignoring_duplicates
from notifier.store.tables import ALERT, PERSON, RECIPIENT, RESPONSE

MAX_TEXT = 1600


class Outcome(StrEnum):
    """What became of an answer."""

    RECORDED = "recorded"
    HELP_STANDS = "help_stands"  # kept in the history; the current answer stays help
    EMPTY = "empty"  # nothing in it: nothing recorded
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

    @property
    def empty(self) -> bool:
        """Whether it says nothing (`says_nothing`): it is not recorded."""
        return says_nothing(self.kind, self.text)


_UNREADABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})
"""Controls, invisible format marks, lone surrogates and separators."""
_REPLACEMENT = "\ufffd"
"""What undecodable bytes become."""


def says_nothing(kind: ResponseKind, text: str) -> bool:
    """Whether an answer says nothing: neither safe nor help, and no readable text (an MMS
    with only a picture; an e-mail whose first line is empty or undecodable)."""
    return kind is ResponseKind.OTHER and not _readable(text)


def _readable(text: str) -> bool:
    """Whether a text has a character a person could read: not only blanks, controls,
    invisible marks and replacement characters."""
    return any(
        not char.isspace()
        and char != _REPLACEMENT
        and unicodedata.category(char) not in _UNREADABLE_CATEGORIES
        for char in text
    )


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
    """Keep the answer in the history and make it the recipient's current response, unless
    it is `other` and the current one is `help`; an empty answer records nothing."""
    if answer.empty:
        return Outcome.EMPTY
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
    current = await session.scalar(
        update(RECIPIENT)
        .where(recipient)
        .values(
            response=_current_after(answer.kind),
            last_response_at=now,
            first_response_at=func.coalesce(RECIPIENT.c.first_response_at, now),
        )
        .returning(RECIPIENT.c.response)
    )
    if answer.kind is ResponseKind.OTHER and current == ResponseKind.HELP.value:
        return Outcome.HELP_STANDS
    return Outcome.RECORDED


def _current_after(kind: ResponseKind) -> ColumnElement[str] | str:
    """The recipient's current response once `kind` is recorded, decided in the statement
    itself so that an answer recorded at the same moment by another replica is seen."""
    if kind is not ResponseKind.OTHER:
        return kind.value
    help_ = ResponseKind.HELP.value
    return case((RECIPIENT.c.response == help_, help_), else_=kind.value)


async def latest_texts(session: AsyncSession, alert_id: int, people: list[int]) -> dict[int, str]:
    """The text of each person's latest answer that says more than safe or help
    (`replies.says_more`: "trapped in B2" after "2", words that read as neither), if any.

    Read by the index on (alert, person, time) for the people asked about only.
    """
    if not people:
        return {}
    r = RESPONSE.c
    query = (
        select(r.person, r.text)
        .where(r.alert_id == alert_id, r.person.in_(sorted(set(people))), r.text != "")
        .order_by(r.person, r.received_at, r.id)
    )
    texts: dict[int, str] = {}
    for person, text in (await session.execute(query)).all():
        if says_more(text):
            texts[person] = text  # later answers overwrite earlier ones
    return texts


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
