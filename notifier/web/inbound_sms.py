"""Inbound SMS and WhatsApp messages from Twilio: replies to alerts, and the carrier keywords
STOP, START and HELP (by SMS only: they are the carriers' words)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.domain import Channel
from notifier.inbound.answer_intake import AnswerIntake
from notifier.inbound.sms_reply import InboundSms
from notifier.web.twilio_form import TwilioFormError, incoming_message
from notifier.web.webhooks import forged, malformed, signed_form

TWIML = "application/xml"


async def twilio_sms(request: Request) -> Response:
    """POST /webhooks/twilio/sms: a signed inbound SMS or WhatsApp message; answers TwiML,
    403 if forged."""
    form = await signed_form(request)
    if form is None:
        return forged()
    try:
        message = incoming_message(form)
    except TwilioFormError as error:
        return malformed(error)
    answers: AnswerIntake = request.app.state.answers
    channel = Channel.WHATSAPP if message.whatsapp else Channel.SMS
    answered = await answers.take_sms(
        InboundSms(message.sid, message.sender, message.body, channel)
    )
    if answered.queued:
        request.app.state.wake_senders(channel)  # the confirmations are ready to send
    return Response(twiml(answered.immediate), media_type=TWIML)


def twiml(message: str | None) -> str:
    """A TwiML answer: empty, or one message back to the sender."""
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    if message is None:
        return f"{head}<Response/>"
    return f"{head}<Response><Message>{escape(message)}</Message></Response>"


ROUTES: list[BaseRoute] = [Route("/webhooks/twilio/sms", twilio_sms, methods=["POST"])]
