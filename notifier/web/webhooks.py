"""Twilio's delivery status callback, and the signature check every Twilio webhook passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from notifier.channels.sms import REFERENCE_PARAMETER, twilio_signature_is_valid
from notifier.domain import Channel
from notifier.settings import Settings
from notifier.store import outbox
from notifier.store.engine import Database
from notifier.web.forms import Form, read_form
from notifier.web.twilio_form import TwilioFormError, status_report

log = structlog.get_logger(__name__)
T = TypeVar("T")


async def twilio_status(request: Request) -> Response:
    """POST /webhooks/twilio/status: move a sent SMS to delivered or failed; 403 if forged."""
    form = await signed_form(request)
    if form is None:
        return forged()
    try:
        report = status_report(form)
    except TwilioFormError as error:
        return malformed(error)
    reference = request.query_params.get(REFERENCE_PARAMETER)
    if reference is not None and not delivery_number(reference):
        return Response(f"{REFERENCE_PARAMETER} must be a delivery number", status_code=400)
    delivery_id = int(reference) if reference else None
    now = request.app.state.clock.now()
    moved = await once_sent(
        request.app.state.database,
        delivery_id,
        lambda session: outbox.record_provider_status(
            session,
            Channel.SMS,
            report.sid,
            report.status,
            report.error_code,
            now,
            delivery_id=delivery_id,
        ),
    )
    if moved is not None:
        log.info("sms_status_recorded", sid=report.sid, status=moved.value)
        if moved.value == "failed":
            request.app.state.wake_dispatcher()
    return Response(status_code=204)


SENDING_WAIT_SECONDS = 5.0
"""How long a report on a message waits for its acceptance to be recorded."""


async def once_sent(
    database: Database,
    delivery_id: int | None,
    record: Callable[[AsyncSession], Awaitable[T | None]],
) -> T | None:
    """`record` a provider's report in a transaction. A report that finds nothing to move
    while its delivery is still being sent came before the provider's acceptance was recorded
    (a failure, a busy line, told at once): it is tried again until that is recorded, for up
    to `SENDING_WAIT_SECONDS`, so that it is not lost.

    Whether the delivery is being sent is read before the report is recorded: read after, on
    PostgreSQL it may already see the acceptance committed in between, and the report, which
    found the delivery not yet sent, would be given up."""
    deadline = time.monotonic() + SENDING_WAIT_SECONDS
    while True:
        async with database.session() as session:
            sending = delivery_id is not None and await outbox.being_sent(session, delivery_id)
            moved = await record(session)
        if moved is not None or not sending or time.monotonic() > deadline:
            return moved
        await asyncio.sleep(0.05)


def delivery_number(text: str) -> bool:
    """Whether a callback URL's `delivery` is a delivery's key (a 64-bit number)."""
    return text.isascii() and text.isdigit() and len(text) <= 18  # within a 64-bit key


def forged() -> Response:
    """The answer to a webhook without a valid signature."""
    return Response("invalid signature", status_code=403, media_type="text/plain")


def malformed(error: TwilioFormError) -> Response:
    """The answer to a signed webhook whose fields are missing or not of their shape."""
    log.warning("twilio_form_refused", reason=str(error))
    return Response(str(error), status_code=400, media_type="text/plain")


async def signed_form(request: Request) -> Form | None:
    """The posted form if Twilio signed it, else None (and the refusal is logged).

    Without a signature (or an auth token to check it) the body is not read at all.
    """
    settings: Settings = request.app.state.settings
    auth_token = settings.sms.auth_token.get_secret_value()
    signature = request.headers.get("x-twilio-signature", "")
    if not auth_token or not signature:
        log.warning("twilio_signature_rejected", path=request.url.path, reason="missing")
        return None
    form = await read_form(request)
    if not twilio_signature_is_valid(
        auth_token, signed_url(request, settings), form.pairs, signature
    ):
        log.warning("twilio_signature_rejected", path=request.url.path, reason="invalid")
        return None
    return form


def signed_url(request: Request, settings: Settings) -> str:
    """Twilio signs the URL it called: our public URL, not the one behind the proxy."""
    url = settings.http.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url
