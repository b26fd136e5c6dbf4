"""Queries behind an alert's preview: who a request would reach, on which channel; nothing written.

The request is checked exactly as raising checks it (`alerts.check_request`), and its audience
is the one materialisation would list (`materialisation.audience_condition`), with the same
rule for channels (`materialisation.Reach`). Everything is counted in SQL, grouped by
language and, for pricing, by the first digits of the number (which name its calling code):
only the numbers of a calling code shared by countries priced apart are streamed, one by one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Language
from notifier.store.materialisation import BASIC, Reach, audience_condition
from notifier.store.tables import PERSON

PREFIX_LENGTH = 4
"""Characters of an E.164 number that hold its calling code ("+" and at most three digits)."""


@dataclass(frozen=True, slots=True)
class AudienceGroup:
    """The active people of one language a request names whose SMS (if any) go to numbers
    starting with `prefix` (`+254`, `+417`; None for those sent no SMS): how each is reached."""

    language: Language
    prefix: str | None
    people: int
    """Reached by at least one channel."""
    sms: int
    email: int
    unreachable: int
    whatsapp: int = 0
    voice: int = 0


async def audience_groups(
    session: AsyncSession, request: AlertRequest, *, sending: Collection[Channel] = BASIC
) -> list[AudienceGroup]:
    """The people the request names, counted per language and SMS number prefix in one pass;
    `sending`: the channels sent on (`Reach`)."""
    reach = Reach(set(request.channels), sending=sending)
    sms = reach.chosen(Channel.SMS)
    # Grouped in an outer query, so that no expression with parameters is repeated in GROUP BY.
    person = (
        select(
            PERSON.c.language.label("language"),
            case((sms, func.substr(PERSON.c.phone, 1, PREFIX_LENGTH)), else_=None).label("prefix"),
            _flag(reach.any).label("reached"),
            _flag(sms).label("sms"),
            _flag(reach.chosen(Channel.EMAIL)).label("email"),
            _flag(reach.chosen(Channel.WHATSAPP)).label("whatsapp"),
            _flag(reach.chosen(Channel.VOICE)).label("voice"),
        )
        .where(_audience(request))
        .subquery("audience")
    )
    c = person.c
    query = select(
        c.language,
        c.prefix,
        func.sum(c.reached),
        func.sum(c.sms),
        func.sum(c.email),
        func.count() - func.sum(c.reached),
        func.sum(c.whatsapp),
        func.sum(c.voice),
    ).group_by(c.language, c.prefix)
    return [
        AudienceGroup(
            Language(language),
            None if start is None else str(start),
            int(people),
            int(messages),
            int(emails),
            int(none),
            int(texts),
            int(calls),
        )
        for language, start, people, messages, emails, none, texts, calls in (
            await session.execute(query)
        ).all()
    ]


async def sms_numbers(
    session: AsyncSession,
    request: AlertRequest,
    prefixes: Sequence[str],
    *,
    sending: Collection[Channel] = BASIC,
) -> AsyncIterator[tuple[Language, str]]:
    """The language and number of each SMS the request sends to numbers of these prefixes."""
    if not prefixes:
        return
    prefix = func.substr(PERSON.c.phone, 1, PREFIX_LENGTH)
    sms = Reach(set(request.channels), sending=sending).chosen(Channel.SMS)
    query = select(PERSON.c.language, PERSON.c.phone).where(
        _audience(request), sms, prefix.in_(sorted(set(prefixes)))
    )
    async for language, phone in await session.stream(query):
        yield Language(language), str(phone)


def _audience(request: AlertRequest) -> ColumnElement[bool]:
    """The active people the request names, as materialisation would list them."""
    named = {
        "stations": list(request.stations),
        "groups": list(request.groups),
        "people": list(request.people),
    }
    return and_(PERSON.c.active, audience_condition(named))


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)
