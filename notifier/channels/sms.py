"""The SMS channel: hands one text to Twilio's Messages API and says its Message SID.

This is the only module that imports `twilio`. Every failure becomes a `SendError` in
`classify_failure`, the one place the table below is decided:

    failure                                          error                 code
    ───────────────────────────────────────────────  ────────────────────  ──────────────
    no answer within `timeout_seconds`               TransientSendError    None
    connection refused, reset, DNS (ClientError,     TransientSendError    None
      OSError)
    HTTP 429 or Twilio 20429 (too many requests)     TransientSendError    "20429", with
                                                                           retry_after
    HTTP 401 or Twilio 20003 (authentication)        TransientSendError    "20003"
    HTTP 5xx                                         TransientSendError    Twilio's code
    HTTP 4xx: 21211 invalid 'To', 21610 recipient    PermanentSendError    Twilio's code
      sent STOP, 21614 not a mobile number, 21408      (the HTTP status when Twilio sent none)
      region not enabled, any other 4xx
    anything else (unreadable answer, 3xx)           TransientSendError    Twilio's code

The SDK's own retries stay off (`max_retries` unset): they re-POST, and a POST that reached
Twilio before the connection dropped would be sent twice. The deadline is the aiohttp session's
(`notifier.channels.twilio_http`), over the whole exchange. A send that timed out may have
been accepted by Twilio; retrying it is the rare duplicate the design accepts over a loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
import structlog
from twilio.base.exceptions import TwilioException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from notifier.channels.base import OutgoingSms
from notifier.channels.twilio_http import TwilioHttpClient, retry_after_hints
from notifier.errors import ConfigError, PermanentSendError, SendError, TransientSendError
from notifier.settings import SmsSettings

log = structlog.get_logger(__name__)

_RATE_LIMITED = 20429
_AUTHENTICATION_FAILED = 20003


class TwilioSmsChannel:
    """Sends SMS, and WhatsApp messages from `whatsapp_from`, through Twilio's Messages API,
    `concurrency` at a time in all, each within `timeout_seconds`."""

    def __init__(self, settings: SmsSettings, status_callback_url: str) -> None:
        if not (settings.from_number or settings.messaging_service_sid):
            raise ConfigError("configuration error: sms.from_number: required to send SMS")
        self._settings = settings
        self._status_callback_url = status_callback_url
        # Who the messages are from: the same for every message, so settled once.
        self._sender = (
            {"from_": settings.from_number}
            if settings.from_number
            else {"messaging_service_sid": settings.messaging_service_sid}
        )
        self._whatsapp_sender = (
            {"from_": f"whatsapp:{settings.whatsapp_from}"} if settings.whatsapp_from else None
        )
        self._http: TwilioHttpClient | None = None
        self._messages: Any = None  # the SDK's Messages resource of the account
        self._account: Any = None  # the SDK's context of the account itself
        self._slots = asyncio.Semaphore(settings.concurrency)

    async def __aenter__(self) -> Self:
        self._http, client = twilio_client(self._settings)  # in the running loop
        self._messages = client.messages
        self._account = client.api.v2010.accounts(self._settings.account_sid)
        log.debug("sms_channel_opened", api_base_url=self._settings.api_base_url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        http, self._http, self._messages = self._http, None, None
        if http is not None:
            await http.close()
        log.debug("sms_channel_closed")

    async def send(self, message: OutgoingSms) -> str:
        """Hand one SMS to Twilio; its Message SID, or a `SendError` saying whether to retry."""
        if self._messages is None:
            raise RuntimeError("TwilioSmsChannel.send called outside `async with`")
        to, sender = message.to, self._sender
        if message.whatsapp:
            if self._whatsapp_sender is None:
                raise PermanentSendError("sms.whatsapp_from is not set: no WhatsApp sender")
            to, sender = f"whatsapp:{message.to}", self._whatsapp_sender
        with retry_after_hints() as hints:
            try:
                async with self._slots:
                    created = await self._messages.create_async(
                        to=to,
                        body=message.body,
                        status_callback=status_callback(self._status_callback_url, message),
                        **sender,
                    )
            except (TwilioException, aiohttp.ClientError, OSError, ValueError) as error:
                failure = classify_failure(error, hints[-1] if hints else None)
                _log_failure(message, error, failure)
                raise failure from error
        sid = created.sid
        if not isinstance(sid, str) or not sid:
            raise TransientSendError("twilio accepted the request without a message sid")
        log.debug("sms_accepted", to=message.to, sid=sid)
        return sid

    async def verify(self) -> None:
        """Fetch the account with the configured credentials: a `SendError` saying why not."""
        if self._account is None:
            raise RuntimeError("TwilioSmsChannel.verify called outside `async with`")
        try:
            await self._account.fetch_async()
        except (TwilioException, aiohttp.ClientError, OSError, ValueError) as error:
            raise classify_failure(error) from error


def twilio_client(settings: SmsSettings) -> tuple[TwilioHttpClient, Client]:
    """The SDK's client of the account, on an HTTP client of its own (close it after use)."""
    # Built in the running loop: the aiohttp session binds to it. A logger of our own,
    # outside the logging tree, silences the SDK's INFO lines.
    http = TwilioHttpClient(
        logging.Logger("twilio.http", logging.WARNING), settings.timeout_seconds
    )
    client = Client(
        settings.account_sid,
        settings.auth_token.get_secret_value(),
        http_client=http,
        # An empty mapping would make the SDK read os.environ, where TWILIO_EDGE or
        # TWILIO_REGION would rewrite the host of api_base_url; configuration is ours.
        environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
    )
    # Every Api-domain URL is `{base_url}/2010-04-01/...`, read at each request.
    client.api.base_url = settings.api_base_url
    return http, client


REFERENCE_PARAMETER = "delivery"
"""The status callback URL's query parameter that gives back the message's `reference`."""


def status_callback(url: str, message: OutgoingSms) -> str:
    """Where Twilio reports on `message`: `url`, naming the message's reference if it has one.

    Twilio signs the whole URL it calls, query included, so the reference cannot be forged.
    """
    if message.reference is None:
        return url
    return f"{url}?{REFERENCE_PARAMETER}={message.reference}"


def classify_failure(error: Exception, retry_after: str | None = None) -> SendError:
    """Decide whether a failed send is worth retrying (the table in the module docstring)."""
    if isinstance(error, TimeoutError):  # before OSError, of which it is a subclass
        return TransientSendError("twilio did not answer in time")
    if isinstance(error, aiohttp.ClientError | OSError):
        return TransientSendError(f"twilio unreachable: {type(error).__name__}")
    status = getattr(error, "status", None)
    if not isinstance(error, TwilioException) or not isinstance(status, int):
        return TransientSendError(f"unreadable answer from twilio: {type(error).__name__}")
    code = getattr(error, "code", None)
    code_text = str(code if code is not None else status)
    if status == 429 or code == _RATE_LIMITED:
        return TransientSendError(
            "twilio rate limit", code=code_text, retry_after=_seconds(retry_after)
        )
    if status == 401 or code == _AUTHENTICATION_FAILED:
        # Wrong account SID or auth token: a configuration problem that fails every message
        # alike, not something wrong with this recipient. Transient, so the messages wait for
        # the operator's fix instead of failing over en masse; logged as an error.
        return TransientSendError("twilio rejected the credentials", code=code_text)
    if status >= 500:
        return TransientSendError(f"twilio server error {status}", code=code_text)
    if 400 <= status < 500:
        return PermanentSendError(f"twilio refused the message ({status})", code=code_text)
    return TransientSendError(f"unexpected twilio answer {status}", code=code_text)


def twilio_signature_is_valid(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str,
) -> bool:
    """Whether `signature` (X-Twilio-Signature) is Twilio's for this public URL and form.

    `params` is the form as posted, as (name, value) pairs: a name posted several times is
    signed by Twilio with all its values.
    """
    pairs = params.items() if isinstance(params, Mapping) else params
    valid = RequestValidator(auth_token).validate(url, _SignedForm(pairs), signature)
    return valid is True


class _SignedForm:
    """A form as `RequestValidator` reads a MultiDict: its names, and every value of each."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def getall(self, name: str) -> list[str]:
        """Every value of `name`, in the order posted."""
        return self._values[name]


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in delta-seconds; None when absent or an HTTP date (Twilio sends seconds)."""
    if retry_after is None:
        return None
    try:
        seconds = float(retry_after.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _log_failure(message: OutgoingSms, error: Exception, failure: SendError) -> None:
    # The body is never logged; `to` is masked by the logging pipeline.
    fields = {
        "to": message.to,
        "code": failure.code,
        "error": type(error).__name__,
        "status": getattr(error, "status", None),
    }
    if failure.code == str(_AUTHENTICATION_FAILED) or getattr(error, "status", None) == 401:
        log.error("sms_credentials_rejected", **fields)
    elif isinstance(failure, PermanentSendError):
        log.warning("sms_refused", **fields)
    else:
        log.warning("sms_send_failed", retry_after=getattr(failure, "retry_after", None), **fields)
