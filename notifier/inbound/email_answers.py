"""E-mail replies as answers: the token names who answers what; the first line, the answer."""

from __future__ import annotations

import hashlib

import structlog

from notifier import ack_tokens
from notifier.clock import Clock
from notifier.domain import Channel
from notifier.errors import InputError
from notifier.inbound.answer_intake import AnswerIntake
from notifier.inbound.smtp_listener import InboundReply, InboundSmtpListener
from notifier.messages import load_templates, templates_location
from notifier.replies import parse_reply
from notifier.settings import Settings
from notifier.store.engine import Database
from notifier.store.responses import Answer

log = structlog.get_logger(__name__)


class EmailAnswers:
    """Checks reply addresses' tokens and records the answers the replies carry."""

    def __init__(self, answers: AnswerIntake, settings: Settings, clock: Clock) -> None:
        self._answers = answers
        self._secret = settings.security.secret_key.get_secret_value().encode()
        self._clock = clock

    def accepts(self, token: str) -> bool:
        """Whether mail to `ack+token@…` is for an answer we can take: a valid, live token."""
        try:
            ack_tokens.verify(self._secret, token, self._clock.now())
        except InputError:
            return False
        return True

    async def record(self, reply: InboundReply) -> None:
        """Record the reply's answer for the person and alert its token names."""
        now = self._clock.now()
        try:
            claim = ack_tokens.verify(self._secret, reply.token, now)
        except InputError:  # expired between RCPT and DATA: nothing to record
            log.info("email_answer_refused", reason="token")
            return
        parsed = parse_reply(reply.first_line)
        answer = Answer(
            claim.alert_id,
            claim.person,
            parsed.kind,
            Channel.EMAIL,
            parsed.text,
            _provider_id(reply),
        )
        outcome = await self._answers.record(answer)
        log.info(
            "email_answer", alert_id=claim.alert_id, kind=parsed.kind.value, outcome=outcome.value
        )


def _provider_id(reply: InboundReply) -> str | None:
    """One id per message and token: a re-delivered message is recorded once.

    One message may go to several tokens (two alerts answered at once), so the token is
    part of it; hashed, to fit the column whatever the Message-ID's length.
    """
    if not reply.message_id:
        return None
    digest = hashlib.sha256(f"{reply.message_id}\n{reply.token}".encode()).hexdigest()
    return f"email:{digest[:48]}"


def inbound_listener(
    database: Database, settings: Settings, clock: Clock, answers: AnswerIntake | None = None
) -> InboundSmtpListener:
    """The SMTP listener of `[email.inbound]`, recording into `database` through `answers`
    (the daemon's, shared with the webhooks; else one of its own)."""
    if answers is None:
        templates = load_templates(templates_location(settings.messages.templates_dir))
        answers = AnswerIntake(database, templates, clock)
    email_answers = EmailAnswers(answers, settings, clock)
    inbound = settings.email.inbound
    return InboundSmtpListener(
        inbound.host,
        inbound.port,
        settings.email.reply_domain,
        inbound.max_message_bytes,
        email_answers.accepts,
        email_answers.record,
        max_parts=inbound.max_mime_parts,
        readers=inbound.parse_concurrency,
    )
