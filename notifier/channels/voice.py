"""The voice channel: asks Twilio's Calls API to call a person, and says the Call SID.

What the call says is not sent with it: when the person (or a machine) answers, Twilio asks
our webhook (`VOICE_PATH`, signed) for the TwiML of the call, which speaks the alert in the
person's language and asks for a key (`notifier.voice_script`). How the call ended (busy, no
answer, completed after so many seconds) comes later to `VOICE_STATUS_PATH`. Failures to
place the call are classified as for SMS (`notifier.channels.sms.classify_failure`); an
invalid number is permanent. The SDK's own retries stay off, as for SMS.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Self

import aiohttp
import structlog
from twilio.base.exceptions import TwilioException

from notifier.channels.base import OutgoingCall
from notifier.channels.sms import REFERENCE_PARAMETER, classify_failure, twilio_client
from notifier.channels.twilio_http import TwilioHttpClient, retry_after_hints
from notifier.errors import ConfigError, TransientSendError
from notifier.settings import SmsSettings, VoiceSettings

log = structlog.get_logger(__name__)

VOICE_PATH = "/webhooks/twilio/voice"
"""Where Twilio asks what an answered call says."""
GATHER_PATH = "/webhooks/twilio/voice/key"
"""Where Twilio posts the key pressed during a call."""
VOICE_STATUS_PATH = "/webhooks/twilio/voice/status"
"""Where Twilio tells how a call ended."""


class TwilioVoiceChannel:
    """Places calls through Twilio, `concurrency` requests at a time, from `from_number`."""

    def __init__(self, account: SmsSettings, settings: VoiceSettings, public_url: str) -> None:
        if not settings.from_number:
            raise ConfigError("configuration error: voice.from_number: required to place calls")
        self._account = account
        self._settings = settings
        self._base = public_url.rstrip("/")
        self._http: TwilioHttpClient | None = None
        self._calls: Any = None  # the SDK's Calls resource of the account
        self._slots = asyncio.Semaphore(settings.concurrency)

    async def __aenter__(self) -> Self:
        self._http, client = twilio_client(self._account)  # in the running loop
        self._calls = client.calls
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        http, self._http, self._calls = self._http, None, None
        if http is not None:
            await http.close()

    async def send(self, message: OutgoingCall) -> str:
        """Ask Twilio to call; the Call SID, or a `SendError` saying whether to retry."""
        if self._calls is None:
            raise RuntimeError("TwilioVoiceChannel.send called outside `async with`")
        query = f"?{REFERENCE_PARAMETER}={message.reference}"
        extra = {"machine_detection": "Enable"} if self._settings.machine_detection else {}
        with retry_after_hints() as hints:
            try:
                async with self._slots:
                    created = await self._calls.create_async(
                        to=message.to,
                        from_=self._settings.from_number,
                        url=self._base + VOICE_PATH + query,
                        method="POST",
                        status_callback=self._base + VOICE_STATUS_PATH + query,
                        status_callback_event=["completed"],
                        status_callback_method="POST",
                        timeout=self._settings.ring_seconds,
                        **extra,
                    )
            except (TwilioException, aiohttp.ClientError, OSError, ValueError) as error:
                failure = classify_failure(error, hints[-1] if hints else None)
                log.warning("call_not_placed", to=message.to, code=failure.code, error=str(failure))
                raise failure from error
        sid = created.sid
        if not isinstance(sid, str) or not sid:
            raise TransientSendError("twilio accepted the call without a call sid")
        log.debug("call_placed", to=message.to, sid=sid)
        return sid
