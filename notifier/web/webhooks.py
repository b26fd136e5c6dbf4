"""Twilio's delivery status callback, and the signature check every Twilio webhook passes."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response

from notifier.channels.sms import REFERENCE_PARAMETER, twilio_signature_is_valid
from notifier.domain import Channel
from notifier.settings import Settings
from notifier.store import outbox
from notifier.store.engine import Database

log = structlog.get_logger(__name__)


async def twilio_status(request: Request) -> Response:
    """POST /webhooks/twilio/status: move a sent SMS to delivered or failed; 403 if forged."""
    form = await signed_form(request)
    if form is None:
        return forged()
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if not sid or not status:
        return Response("MessageSid and MessageStatus are required", status_code=400)
    reference = request.query_params.get(REFERENCE_PARAMETER)
    if reference is not None and not _delivery_number(reference):
        return Response(f"{REFERENCE_PARAMETER} must be a delivery number", status_code=400)
    database: Database = request.app.state.database
    async with database.session() as session:
        moved = await outbox.record_provider_status(
            session,
            Channel.SMS,
            sid,
            status.lower(),
            form.get("ErrorCode", ""),
            request.app.state.clock.now(),
            delivery_id=int(reference) if reference else None,
        )
    if moved is not None:
        log.info("sms_status_recorded", sid=sid, status=moved.value)
        if moved.value == "failed":
            request.app.state.wake_dispatcher()
    return Response(status_code=204)


def _delivery_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18  # within a 64-bit key


def forged() -> Response:
    """The answer to a webhook without a valid signature."""
    return Response("invalid signature", status_code=403, media_type="text/plain")


async def signed_form(request: Request) -> dict[str, str] | None:
    """The posted form if Twilio signed it, else None (and the refusal is logged)."""
    settings: Settings = request.app.state.settings
    form = {key: str(value) for key, value in (await request.form()).items()}
    if not signed_by_twilio(request, settings, form):
        log.warning("twilio_signature_rejected", path=request.url.path)
        return None
    return form


def signed_by_twilio(request: Request, settings: Settings, form: dict[str, str]) -> bool:
    """Twilio signs the URL it called: our public URL, not the one behind the proxy."""
    auth_token = settings.sms.auth_token.get_secret_value()
    signature = request.headers.get("x-twilio-signature", "")
    if not auth_token or not signature:
        return False
    url = settings.http.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return twilio_signature_is_valid(auth_token, url, form, signature)
