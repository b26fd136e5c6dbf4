"""E-mail over SMTP: a pool of persistent aiosmtplib connections, each dropped after any error.

How a failure is classified (`classify_smtp_error`):

    refusal of the recipient (RCPT) or of the message (DATA)
        4xx                              → TransientSendError(code="4xx")
        5xx                              → PermanentSendError(code="5xx")
    authentication (535), sender refused, greeting or EHLO refused
                                         → TransientSendError(code=...)   a configuration
                                           problem that hits every message: nothing is failed
                                           for good while an operator fixes it; logged as an error
    STARTTLS required but not offered    → TransientSendError, the message is never sent in clear
    disconnection, refused connection, TLS failure, timeout
                                         → TransientSendError
    address unusable on this server (bad characters, SMTPUTF8 missing), header with a line break
                                         → PermanentSendError
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections import deque
from datetime import UTC, datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid, parseaddr
from types import TracebackType
from typing import Final, Self, cast

import aiosmtplib
import structlog

from notifier.channels.base import OutgoingEmail
from notifier.errors import PermanentSendError, SendError, TransientSendError
from notifier.settings import EmailSettings

log = structlog.get_logger(__name__)

STARTTLS_UNAVAILABLE: Final = "server does not offer STARTTLS; refusing to send in clear"
_QUIT_TIMEOUT_SECONDS: Final = 2.0
_REPLY_TEXT_LIMIT: Final = 200
_HEADER_NAME: Final = re.compile(r"[!-9;-~]+")
_RESERVED_HEADERS: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "subject",
        "reply-to",
        "date",
        "message-id",
        "auto-submitted",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


def build_email(message: OutgoingEmail, *, from_address: str, now: datetime) -> MIMEMultipart:
    """The MIME message for `message`: text and HTML alternatives in UTF-8, headers checked.

    Raises `PermanentSendError` for a header that could inject another header.
    """
    extra = dict(message.headers)
    for name, value in extra.items():
        if not _HEADER_NAME.fullmatch(name):
            raise PermanentSendError(f"header name {name!r} is not a valid header name")
        if name.lower() in _RESERVED_HEADERS:
            raise PermanentSendError(f"header {name} is set by the e-mail channel")
        _refuse_line_breaks(name, value)
    for name, value in (("To", message.to), ("Reply-To", message.reply_to)):
        _refuse_line_breaks(name, value)
    _refuse_line_breaks("Subject", message.subject)
    # The compat32 MIME classes: several times cheaper to build and flatten than
    # EmailMessage with a modern policy, which re-parses every header it is given.
    mime = MIMEMultipart("alternative")
    try:
        mime["From"] = from_address
        mime["To"] = message.to
        mime["Reply-To"] = message.reply_to
        mime["Subject"] = _encoded(message.subject)
        mime["Date"] = format_datetime(now)
        mime["Message-ID"] = make_msgid(
            domain=parseaddr(from_address)[1].rpartition("@")[2] or None
        )
        mime["Auto-Submitted"] = "auto-generated"
        for name, value in extra.items():
            mime[name] = _encoded(value)
        mime.attach(MIMEText(message.text, "plain", "utf-8"))
        mime.attach(MIMEText(message.html, "html", "utf-8"))
    except (ValueError, TypeError) as error:  # the stdlib's own refusal of a header
        raise PermanentSendError(f"cannot build the message: {error}") from error
    return mime


def _encoded(value: str) -> str:
    """A header value as is when ASCII, else RFC 2047 encoded words in UTF-8.

    The compat32 message folds a `Header` itself, knowing the header name's length; typeshed
    only admits `str` for header values.
    """
    if value.isascii():
        return value
    return cast(str, Header(value, "utf-8"))


def classify_smtp_error(error: Exception) -> SendError:
    """Transient or permanent, with the SMTP reply code when there is one (module docstring)."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        if not error.recipients:
            return TransientSendError("every recipient was refused")
        refused = error.recipients[0]
        return _by_reply_code(refused.code, f"recipient refused: {_reply(refused)}")
    if isinstance(
        error,
        aiosmtplib.SMTPAuthenticationError
        | aiosmtplib.SMTPSenderRefused
        | aiosmtplib.SMTPConnectResponseError
        | aiosmtplib.SMTPHeloError,
    ):
        return TransientSendError(f"{_what(error)} refused: {_reply(error)}", code=str(error.code))
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return _by_reply_code(error.code, f"message refused: {_reply(error)}")
    if isinstance(error, OSError):  # before ValueError: an SSL verification error is both
        return TransientSendError(f"{type(error).__name__}: {error}")
    if isinstance(error, aiosmtplib.SMTPNotSupported | ValueError):
        return PermanentSendError(f"the server cannot take this message: {error}")
    # Timeouts and any other protocol trouble.
    return TransientSendError(f"{type(error).__name__}: {error}")


class SmtpEmailChannel:
    """Sends `OutgoingEmail` through an SMTP relay over up to `pool_size` reused connections.

    `tls_context` verifies the server (a private CA, or the tests' CA); by default the
    system's. An idle connection older than `probe_idle_after` seconds is checked with NOOP
    before it is reused.
    """

    def __init__(
        self,
        settings: EmailSettings,
        tls_context: ssl.SSLContext | None = None,
        *,
        probe_idle_after: float = 30.0,
    ) -> None:
        self._settings = settings
        if tls_context is None and settings.tls != "none":
            tls_context = ssl.create_default_context()
        self._tls_context = tls_context
        self._probe_idle_after = probe_idle_after
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._idle: deque[tuple[aiosmtplib.SMTP, float]] = deque()
        self._local_hostname: str | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Say QUIT on every idle connection (briefly, errors ignored); refuse further sends."""
        self._closed = True
        idle = [smtp for smtp, _ in self._idle]
        self._idle.clear()
        await asyncio.gather(*(_quit(smtp) for smtp in idle))

    async def send(self, message: OutgoingEmail) -> str:
        """Send one e-mail; its Message-ID (with angle brackets) is the provider's id."""
        mime = build_email(message, from_address=self._settings.from_address, now=datetime.now(UTC))
        message_id = str(mime["Message-ID"])
        if self._closed:
            raise TransientSendError("the e-mail channel is closed")
        async with self._slots:
            try:
                async with asyncio.timeout(self._settings.timeout_seconds):
                    await self._send_pooled(mime, message.to)
            except SendError:
                raise
            except TimeoutError as error:
                late = TransientSendError(f"no answer within {self._settings.timeout_seconds:g} s")
                _log_failure(error, late)
                raise late from error
            except (aiosmtplib.SMTPException, OSError, ValueError) as error:
                failure = classify_smtp_error(error)
                _log_failure(error, failure)
                raise failure from error
        log.debug("email_sent", message_id=message_id)
        return message_id

    async def verify(self) -> None:
        """Connect, start TLS and log in as configured, then QUIT; a `SendError` saying why not."""
        try:
            async with asyncio.timeout(self._settings.timeout_seconds):
                smtp = await self._open()
                await _quit(smtp)
        except SendError:
            raise
        except TimeoutError as error:
            raise TransientSendError(
                f"no answer within {self._settings.timeout_seconds:g} s"
            ) from error
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            raise classify_smtp_error(error) from error

    async def _send_pooled(self, mime: MIMEMultipart, to: str) -> None:
        smtp = await self._checkout()
        try:
            await smtp.send_message(mime, sender=self._settings.from_address, recipients=[to])
        except BaseException as error:
            # Whatever happened (a refusal, a drop, our timeout, a cancellation), this
            # connection may be out of step with the server: never hand it out again.
            _drop(smtp, reason=type(error).__name__)
            raise
        if self._closed:
            smtp.close()
        else:
            self._idle.append((smtp, asyncio.get_running_loop().time()))

    async def _checkout(self) -> aiosmtplib.SMTP:
        """The most recently used live idle connection, else a new one."""
        loop = asyncio.get_running_loop()
        while self._idle:
            smtp, since = self._idle.pop()
            if not smtp.is_connected:
                _drop(smtp, reason="closed_while_idle")
                continue
            if loop.time() - since < self._probe_idle_after:
                return smtp
            try:
                await smtp.noop()
            except (aiosmtplib.SMTPException, OSError) as error:
                _drop(smtp, reason=f"noop_failed:{type(error).__name__}")
                continue
            except BaseException:
                _drop(smtp, reason="noop_interrupted")
                raise
            return smtp
        return await self._open()

    async def _open(self) -> aiosmtplib.SMTP:
        settings = self._settings
        smtp = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            local_hostname=await self._hostname(),
            timeout=settings.timeout_seconds,
            use_tls=settings.tls == "implicit",
            # STARTTLS is done below, by hand, so that its absence is an error, never plain text.
            start_tls=False,
            tls_context=self._tls_context,
        )
        try:
            await smtp.connect()
            if settings.tls == "starttls":
                await smtp.ehlo()
                if not smtp.supports_extension("starttls"):
                    log.error("smtp_starttls_unavailable", host=settings.host, port=settings.port)
                    raise TransientSendError(STARTTLS_UNAVAILABLE)
                await smtp.starttls()
            if settings.username:
                await smtp.login(settings.username, settings.password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        log.info("smtp_connection_opened", host=settings.host, port=settings.port, tls=settings.tls)
        return smtp

    async def _hostname(self) -> str:
        """This machine's name for EHLO, looked up once (a slow resolver must not slow sends)."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn) or "localhost"
        return self._local_hostname


def _refuse_line_breaks(name: str, value: str) -> None:
    # splitlines() knows every line boundary, not only CR and LF.
    if "".join(value.splitlines()) != value or "\0" in value:
        raise PermanentSendError(f"header {name} contains a line break; refused")


def _by_reply_code(code: int, text: str) -> SendError:
    if 500 <= code <= 599:
        return PermanentSendError(text, code=str(code))
    return TransientSendError(text, code=str(code))


def _reply(error: aiosmtplib.SMTPResponseException) -> str:
    return f"{error.code} {error.message}"[:_REPLY_TEXT_LIMIT]


def _what(error: aiosmtplib.SMTPResponseException) -> str:
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return "authentication"
    if isinstance(error, aiosmtplib.SMTPSenderRefused):
        return "sender"
    return "connection"


def _log_failure(error: Exception, failure: SendError) -> None:
    configuration = isinstance(
        error,
        aiosmtplib.SMTPAuthenticationError
        | aiosmtplib.SMTPSenderRefused
        | ssl.SSLCertVerificationError,
    )
    if configuration:
        log.error("smtp_configuration_problem", error=str(failure), code=failure.code)
    else:
        log.warning(
            "smtp_send_failed",
            error_type=type(error).__name__,
            code=failure.code,
            permanent=isinstance(failure, PermanentSendError),
        )


def _drop(smtp: aiosmtplib.SMTP, *, reason: str) -> None:
    smtp.close()
    log.info("smtp_connection_dropped", reason=reason)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        async with asyncio.timeout(_QUIT_TIMEOUT_SECONDS):
            await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        pass  # closing anyway; the server's view of a QUIT does not matter
    finally:
        smtp.close()
