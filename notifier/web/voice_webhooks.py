"""Twilio's voice webhooks, each signed: what an answered call says, the key pressed, and
how the call ended.

- `POST /webhooks/twilio/voice?delivery=ID`: TwiML reading the alert in the person's
  language and asking for a key (`notifier.voice_script`); a machine gets the alert only.
  An alert no longer open says so; an unknown call hangs up.
- `POST /webhooks/twilio/voice/key?delivery=ID`: `1` is safe, `2` help, recorded as the
  person's answer (by the same path as SMS replies, the Call SID as the provider's id, so a
  replayed key is recorded once) and confirmed aloud; another key has the question asked once
  more.
- `POST /webhooks/twilio/voice/status?delivery=ID`: a completed call is delivered and priced
  by the minute; busy, no answer and failed are called again later, up to
  `voice.max_attempts` calls (`notifier.store.calls.record_call_end`). A busy line may be
  told before the call is recorded as placed: the callback waits for it (`once_sent`).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.channels.sms import REFERENCE_PARAMETER
from notifier.channels.voice import GATHER_PATH, VOICE_PATH, VOICE_STATUS_PATH
from notifier.costs import to_micros
from notifier.domain import Channel, ResponseKind
from notifier.inbound.answer_intake import AnswerIntake
from notifier.messages import Templates
from notifier.settings import Settings
from notifier.store import calls
from notifier.store.calls import CallPolicy, CallTarget
from notifier.store.engine import Database
from notifier.store.responses import Answer, Outcome
from notifier.voice_script import ask_again, call_script, hang_up, said
from notifier.web.twilio_form import CallReport, TwilioFormError, call_report
from notifier.web.webhooks import delivery_number, forged, malformed, once_sent, signed_form

log = structlog.get_logger(__name__)

TWIML = "application/xml"
KEYS = {"1": ResponseKind.SAFE, "2": ResponseKind.HELP}
CONFIRMATIONS = {
    ResponseKind.SAFE: "answer.recorded_safe",
    ResponseKind.HELP: "answer.recorded_help",
}
"""What is said after a key is recorded (or was, when Twilio posts it again)."""


async def call_answered(request: Request) -> Response:
    """What the call says: the alert twice, then the question (not to a machine)."""
    found = await _call(request)
    if isinstance(found, Response):
        return found
    report, delivery_id, target = found
    templates: Templates = request.app.state.templates
    if target is None:
        return _twiml(hang_up())
    if not target.open:
        return _twiml(said(templates, target.language, "answer.closed"))
    log.info("call_answered", alert_id=target.alert_id, machine=report.machine)
    script = call_script(
        templates,
        target.content,
        target.language,
        key_url=_url(request, GATHER_PATH, delivery_id),
        machine=report.machine,
    )
    return _twiml(script)


async def key_pressed(request: Request) -> Response:
    """Record 1 (safe) or 2 (help) as the person's answer, and say so; else ask again."""
    found = await _call(request)
    if isinstance(found, Response):
        return found
    report, delivery_id, target = found
    templates: Templates = request.app.state.templates
    if target is None:
        return _twiml(hang_up())
    kind = KEYS.get(report.digits[:1])
    if kind is None:
        again = ask_again(
            templates, target.language, key_url=_url(request, GATHER_PATH, delivery_id)
        )
        return _twiml(again)
    answers: AnswerIntake = request.app.state.answers
    answer = Answer(target.alert_id, target.person, kind, Channel.VOICE, report.digits, report.sid)
    outcome = await answers.record(answer)
    log.info("call_answer", alert_id=target.alert_id, kind=kind.value, outcome=outcome.value)
    if outcome is Outcome.NOT_OPEN:
        return _twiml(said(templates, target.language, "answer.closed"))
    if outcome is Outcome.NOT_RECIPIENT:
        return _twiml(hang_up())
    return _twiml(said(templates, target.language, CONFIRMATIONS[kind]))


async def call_ended(request: Request) -> Response:
    """Move the call's delivery on by how the call ended; 204."""
    reported = await _report(request)
    if isinstance(reported, Response):
        return reported
    report, delivery_id = reported
    settings: Settings = request.app.state.settings
    policy = CallPolicy(
        settings.voice.max_attempts,
        timedelta(seconds=settings.voice.retry_seconds),
        to_micros(settings.costs.voice_minute_price),
    )
    now = request.app.state.clock.now()
    moved = await once_sent(
        request.app.state.database,
        delivery_id,
        lambda session: calls.record_call_end(
            session, delivery_id, report.sid, report.status, report.duration, now, policy
        ),
    )
    if moved is not None:
        log.info("call_ended", sid=report.sid, status=report.status, delivery=moved.value)
        request.app.state.wake_dispatcher()
    return Response(status_code=204)


async def _call(request: Request) -> tuple[CallReport, int, CallTarget | None] | Response:
    """The signed call report, its delivery and what the call is about; or the refusal."""
    reported = await _report(request)
    if isinstance(reported, Response):
        return reported
    report, delivery_id = reported
    database: Database = request.app.state.database
    async with database.session(read_only=True) as session:
        target = await calls.call_target(session, delivery_id)
    return report, delivery_id, target


async def _report(request: Request) -> tuple[CallReport, int] | Response:
    """The signed call report and its delivery; or the refusal."""
    form = await signed_form(request)
    if form is None:
        return forged()
    try:
        report = call_report(form)
    except TwilioFormError as error:
        return malformed(error)
    reference = request.query_params.get(REFERENCE_PARAMETER, "")
    if not delivery_number(reference):
        return Response(f"{REFERENCE_PARAMETER} must be a delivery number", status_code=400)
    return report, int(reference)


def _url(request: Request, path: str, delivery_id: int) -> str:
    settings: Settings = request.app.state.settings
    return f"{settings.http.public_url.rstrip('/')}{path}?{REFERENCE_PARAMETER}={delivery_id}"


def _twiml(text: str) -> Response:
    return Response(text, media_type=TWIML)


ROUTES: list[BaseRoute] = [
    Route(VOICE_PATH, call_answered, methods=["POST"]),
    Route(GATHER_PATH, key_pressed, methods=["POST"]),
    Route(VOICE_STATUS_PATH, call_ended, methods=["POST"]),
]
