"""What an inbound SMS does: record an answer to an alert, or act on a carrier keyword.

A number may belong to several people (a shared phone): an answer from it counts for each of
them who was sent the alert. Confirmations of answers go through the outbox, like any other
message; answers to carrier keywords and to numbers with nothing to answer are immediate.
An SMS with nothing in it (an MMS with only a picture) records nothing: the sender is told
at once how to answer. A reply when the latest alert the sender was sent is closed records
nothing either: they are told at once that it is closed. Text that reads as neither safe nor
help from someone who needs help is kept, and confirmed as help, which it leaves standing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import AlertStatus, Channel, Language, Purpose, ResponseKind
from notifier.messages import Templates
from notifier.replies import CarrierKeyword, carrier_keyword, parse_reply
from notifier.store import alerts, outbox, responses
from notifier.store.responses import Answer, OpenAlertOfPerson, Outcome

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InboundSms:
    """An SMS a person sent us: the provider's id, the sender's number, the text, and the
    channel it came by (WhatsApp comes the same way)."""

    provider_id: str
    sender: str
    body: str
    channel: Channel = Channel.SMS


@dataclass(frozen=True, slots=True)
class SmsAnswered:
    """What to tell the sender at once (None: nothing), and whether a confirmation is queued."""

    immediate: str | None = None
    queued: int = 0


def alert_to_answer(open_alerts: Sequence[OpenAlertOfPerson], codes: Sequence[str]) -> int:
    """The alert a reply answers: the one whose code it names, else the newest open one."""
    by_code = {row.code: row.alert_id for row in open_alerts}
    for code in codes:
        if code in by_code:
            return by_code[code]
    return open_alerts[0].alert_id


async def take_sms(
    session: AsyncSession, templates: Templates, sms: InboundSms, now: datetime
) -> SmsAnswered:
    """Act on one inbound SMS within the caller's transaction."""
    keyword = carrier_keyword(sms.body) if sms.channel is Channel.SMS else None
    if keyword is CarrierKeyword.STOP:
        return await _switch_sms(session, templates, sms.sender, off=True)
    if keyword is CarrierKeyword.START and await responses.any_opted_out(session, sms.sender):
        return await _switch_sms(session, templates, sms.sender, off=False)
    open_alerts = await responses.open_alerts_for_phone(session, sms.sender)
    if not open_alerts:
        return await _nothing_to_answer(session, templates, sms.sender, keyword)
    reply = parse_reply(sms.body)
    alert_id = alert_to_answer(open_alerts, reply.codes)
    people = [row for row in open_alerts if row.alert_id == alert_id]
    if responses.says_nothing(reply.kind, reply.text):
        # Nothing to keep: tell the sender how to answer (their photo is not read).
        log.info("sms_answer", alert_id=alert_id, kind=reply.kind.value, outcome="empty")
        return SmsAnswered(templates.strings[people[0].language]["sms.reply"])
    queued = 0
    for index, row in enumerate(people):
        provider_id = sms.provider_id if index == 0 else f"{sms.provider_id}/{row.person}"
        answer = Answer(alert_id, row.person, reply.kind, sms.channel, reply.text, provider_id)
        outcome = await responses.record_answer(session, answer, now)
        log.info("sms_answer", alert_id=alert_id, kind=reply.kind.value, outcome=outcome.value)
        key = confirmation(outcome, reply.kind)
        if key is not None:
            queued += await _confirm(session, templates, row, key, sms.channel, now)
    return SmsAnswered(queued=queued)


def confirmation(outcome: Outcome, kind: ResponseKind) -> str | None:
    """The template of the confirmation a recorded answer gets; None when nothing was recorded.

    Text that leaves "needs help" standing ("come quickly" after "2") is confirmed as help.
    """
    if outcome is Outcome.HELP_STANDS:
        return "answer.recorded_help"
    if outcome is Outcome.RECORDED:
        return _RECORDED[kind]
    return None


async def _confirm(
    session: AsyncSession,
    templates: Templates,
    row: OpenAlertOfPerson,
    key: str,
    channel: Channel,
    now: datetime,
) -> int:
    """Queue "Recorded: safe." in the person's language, on the channel the answer came by;
    numbered by their answers so far."""
    answers = await responses.answers_so_far(session, row.alert_id, row.person)
    body = templates.strings[row.language][key]
    notice = outbox.Notice(row.alert_id, row.person, channel, Purpose.ANSWER, answers, body)
    return int(await outbox.queue_notice(session, notice, now))


_RECORDED = {
    ResponseKind.SAFE: "answer.recorded_safe",
    ResponseKind.HELP: "answer.recorded_help",
    ResponseKind.OTHER: "answer.recorded_other",
}


async def _switch_sms(
    session: AsyncSession, templates: Templates, phone: str, *, off: bool
) -> SmsAnswered:
    changed = await responses.set_sms_opt_out(session, phone, off)
    log.info("sms_opted_out" if off else "sms_opted_in", people=changed)
    language = await _language_of(session, phone)
    if language is None:
        return SmsAnswered()
    return SmsAnswered(templates.strings[language]["answer.stopped" if off else "answer.started"])


async def _nothing_to_answer(
    session: AsyncSession, templates: Templates, phone: str, keyword: CarrierKeyword | None
) -> SmsAnswered:
    """A known person gets the carrier HELP text, word that their alert is closed, or that no
    alert is open; others nothing."""
    language = await _language_of(session, phone)
    if language is None:
        log.info("sms_from_unknown_number")
        return SmsAnswered()
    if keyword is CarrierKeyword.HELP:
        return SmsAnswered(templates.strings[language]["answer.info"])
    if await alerts.latest_status_for_phone(session, phone) is AlertStatus.CLOSED:
        log.info("sms_answer", outcome="closed")
        return SmsAnswered(templates.strings[language]["answer.closed"])
    return SmsAnswered(templates.strings[language]["answer.no_alert"])


async def _language_of(session: AsyncSession, phone: str) -> Language | None:
    people = await responses.people_with_phone(session, phone)
    return people[0][1] if people else None
