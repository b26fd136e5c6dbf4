"""Inbound SMS replies taken many at a time, in one transaction, as `take_sms` takes each.

The open alerts of every sender, with their current responses, are looked up in one indexed
query, the answers recorded by `answer_batch.record_answers` (which need not read them again)
and their confirmations queued in one statement. What is rare is left to `take_sms`, one
message at a time: carrier keywords that switch SMS off or on, and numbers with no open alert
(the sender is told why, which needs more lookups).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from notifier.domain import OPEN_ALERT_STATUSES, Channel, Language, Purpose, ResponseKind
from notifier.inbound.sms_reply import InboundSms, SmsAnswered, alert_to_answer, confirmation
from notifier.messages import Templates
from notifier.replies import CarrierKeyword, carrier_keyword, parse_reply
from notifier.store.answer_batch import queue_notices, record_answers
from notifier.store.outbox import Notice
from notifier.store.responses import Answer, OpenAlertOfPerson, Outcome, says_nothing
from notifier.store.tables import ALERT, PERSON, RECIPIENT

_SWITCHES = (CarrierKeyword.STOP, CarrierKeyword.START)


@dataclass(frozen=True, slots=True)
class TakenSms:
    """What became of one message of a batch: what to answer the sender, and the outcome of
    each answer it recorded or not (alert, kind, outcome), for the log."""

    answered: SmsAnswered
    outcomes: tuple[tuple[int, ResponseKind, Outcome], ...] = field(default=())


def take_replies(
    connection: Connection, templates: Templates, messages: Sequence[InboundSms], now: datetime
) -> list[TakenSms | None]:
    """Take the messages in order; None for each left to `take_sms`."""
    results: list[TakenSms | None] = [None] * len(messages)
    replies = [
        i
        for i, sms in enumerate(messages)
        if sms.channel is not Channel.SMS or carrier_keyword(sms.body) not in _SWITCHES
    ]
    found = open_alerts_for_phones(connection, {messages[i].sender for i in replies})
    alerts_of = found.of_phone
    answers: list[Answer] = []
    owners: list[tuple[int, OpenAlertOfPerson, ResponseKind]] = []
    for i in replies:
        sms = messages[i]
        open_alerts = alerts_of.get(sms.sender)
        if not open_alerts:
            continue
        reply = parse_reply(sms.body)
        alert_id = alert_to_answer(open_alerts, reply.codes)
        people = [row for row in open_alerts if row.alert_id == alert_id]
        if says_nothing(reply.kind, reply.text):
            immediate = templates.strings[people[0].language]["sms.reply"]
            results[i] = TakenSms(SmsAnswered(immediate), ((alert_id, reply.kind, Outcome.EMPTY),))
            continue
        for index, row in enumerate(people):
            provider_id = sms.provider_id if index == 0 else f"{sms.provider_id}/{row.person}"
            answers.append(
                Answer(alert_id, row.person, reply.kind, sms.channel, reply.text, provider_id)
            )
            owners.append((i, row, reply.kind))
    recorded = record_answers(connection, answers, now, known=found.responses)
    notices: list[Notice] = []
    outcomes: dict[int, list[tuple[int, ResponseKind, Outcome]]] = defaultdict(list)
    queued: dict[int, int] = defaultdict(int)
    for (i, row, kind), result in zip(owners, recorded, strict=True):
        outcomes[i].append((row.alert_id, kind, result.outcome))
        key = confirmation(result.outcome, kind)
        if key is not None:
            body = templates.strings[row.language][key]
            notices.append(
                Notice(
                    row.alert_id,
                    row.person,
                    messages[i].channel,
                    Purpose.ANSWER,
                    result.answers,
                    body,
                )
            )
            queued[i] += 1
    queue_notices(connection, notices, now)
    for i, answered in outcomes.items():
        results[i] = TakenSms(SmsAnswered(queued=queued[i]), tuple(answered))
    return results


@dataclass(frozen=True, slots=True)
class SendersOpenAlerts:
    """The open alerts sent to the people of some numbers, and those people's responses."""

    of_phone: dict[str, list[OpenAlertOfPerson]]
    """For each number, the open alerts sent to its people, newest first."""
    responses: dict[tuple[int, int], str | None]
    """The current response of each of them as a recipient, by (alert, person)."""


def open_alerts_for_phones(connection: Connection, phones: Iterable[str]) -> SendersOpenAlerts:
    """For each number, the open alerts sent to its people, newest first (as
    `responses.open_alerts_for_phone` finds them), with their current responses, in one query
    by the phone index."""
    found = SendersOpenAlerts(defaultdict(list), {})
    wanted = sorted(set(phones))
    if not wanted:
        return found
    query = (
        select(
            PERSON.c.phone,
            ALERT.c.id,
            ALERT.c.code,
            ALERT.c.created_at,
            PERSON.c.id.label("person"),
            PERSON.c.language,
            RECIPIENT.c.response,
        )
        .select_from(PERSON)
        .join(RECIPIENT, RECIPIENT.c.person == PERSON.c.id)
        .join(ALERT, ALERT.c.id == RECIPIENT.c.alert_id)
        .where(PERSON.c.phone.in_(wanted), ALERT.c.status.in_(OPEN_ALERT_STATUSES))
        .order_by(PERSON.c.phone, ALERT.c.created_at.desc(), ALERT.c.id.desc(), PERSON.c.id)
    )
    for row in connection.execute(query):
        found.of_phone[row.phone].append(
            OpenAlertOfPerson(row.id, row.code, row.person, Language(row.language), row.created_at)
        )
        found.responses[(row.id, row.person)] = row.response
    return found
