"""The inbound SMTP listener: replies to `ack+TOKEN@reply_domain`, stored before accepted.

aiosmtpd's `SMTP` protocol served by `loop.create_server` in the daemon's own event loop (not
aiosmtpd's threaded `Controller`). What it answers the sending server:

    RCPT TO ack+TOKEN@reply_domain, TOKEN ours   → 250
    any other recipient, domain or token          → 550 5.1.1 (this is not a relay)
    more than 10 recipients                       → 452 4.5.3
    message over max_message_bytes                → 552 (aiosmtpd's data_size_limit)
    bounce (null sender) or automatic reply       → 250, nothing recorded
    reply recorded for every recipient            → 250
    recording failed, or any error of ours        → 451 4.3.0: the sender keeps the message
                                                    and tries again later, nothing is lost

A reply is accepted only once `record` has returned, so 250 means it is stored. Neither
addresses nor tokens are logged: a token lets whoever holds it acknowledge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.errors import ConfigError
from notifier.inbound.email_reply import is_ack_address, read_email_reply

log = structlog.get_logger(__name__)

OK: Final = "250 OK"
NOT_AN_ACK_ADDRESS: Final = (
    "550 5.1.1 Mailbox unavailable: this server accepts only acknowledgement replies"
)
TOO_MANY_RECIPIENTS: Final = "452 4.5.3 Too many recipients"
TRY_AGAIN_LATER: Final = "451 4.3.0 Try again later"
MAX_RECIPIENTS: Final = 10
_IDLE_TIMEOUT_SECONDS: Final = 60.0
_DRAIN_SECONDS: Final = 5.0
"""On exit, how long replies being recorded may take to finish before their sessions close."""
_CLOSE_SECONDS: Final = 2.0
_NULL_SENDERS: Final = frozenset({"", "<>"})


@dataclass(frozen=True, slots=True)
class InboundReply:
    """A person's answer by e-mail, addressed to one acknowledgement token."""

    token: str
    """The TOKEN of the `ack+TOKEN@reply_domain` address the message was sent to."""
    first_line: str
    """The first line of the person's own text ("" when there is none)."""
    message_id: str | None
    """The message's Message-ID, without angle brackets: a resent message has the same."""


TokenCheck = Callable[[str], bool]
"""Whether a token is one we issued and is still valid (the HMAC check)."""
ReplySink = Callable[[InboundReply], Awaitable[None]]
"""Records an answer durably; raises when it cannot."""


class InboundSmtpListener:
    """Listens for e-mail replies on `host:port` while entered; an async context manager.

    Port 0 binds a free port, which `port` then gives.
    """

    def __init__(
        self,
        host: str,
        port: int,
        reply_domain: str,
        max_message_bytes: int,
        accepts: TokenCheck,
        record: ReplySink,
    ) -> None:
        self._host = host
        self._port = port
        self._reply_domain = reply_domain
        self._max_message_bytes = max_message_bytes
        self._handler = _ReplyHandler(reply_domain, accepts, record)
        self._sessions: list[SMTP] = []
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on: the one bound when 0 was asked for."""
        return self._port

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._new_session, self._host, self._port)
        except OSError as error:
            raise ConfigError(
                f"configuration error: email.inbound: cannot listen on {self._host}:{self._port}:"
                f" {error.strerror or error}"
            ) from None
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("inbound_smtp_listening", host=self._host, port=self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()  # no new connections
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_SECONDS):
                await self._handler.drain()
        # Python 3.11's `wait_closed` does not wait for open connections: close them here.
        sessions = [session for session in self._sessions if not _finished(session)]
        for session in sessions:
            if session.transport is not None:
                session.transport.close()
        # aiosmtpd runs each session in this task; a session stuck in a read is cancelled.
        tasks = [s._handler_coroutine for s in sessions if s._handler_coroutine is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_SECONDS)
        await server.wait_closed()
        self._sessions.clear()
        log.info("inbound_smtp_stopped", port=self._port)

    def _new_session(self) -> SMTP:
        session = SMTP(
            self._handler,
            data_size_limit=self._max_message_bytes,
            enable_SMTPUTF8=True,
            hostname=self._reply_domain,  # aiosmtpd's default resolves the FQDN per connection
            ident="notifier",
            timeout=_IDLE_TIMEOUT_SECONDS,
            loop=asyncio.get_running_loop(),
        )
        self._sessions = [s for s in self._sessions if not _finished(s)]
        self._sessions.append(session)
        return session


def _finished(session: SMTP) -> bool:
    """Whether an aiosmtpd session has ended (its task is done)."""
    task = session._handler_coroutine
    return task is not None and task.done()


class _ReplyHandler:
    """aiosmtpd's handler: one hook per SMTP verb that decides something."""

    def __init__(self, reply_domain: str, accepts: TokenCheck, record: ReplySink) -> None:
        self._reply_domain = reply_domain
        self._accepts = accepts
        self._record = record
        self._recording = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def drain(self) -> None:
        """Wait until no reply is being recorded."""
        await self._idle.wait()

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Any sender, the null sender `<>` of a bounce included."""
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return OK

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Only `ack+TOKEN@reply_domain` for a token of ours."""
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        token = is_ack_address(address, self._reply_domain)
        if token is None or not self._accepts(token):
            reason = "not_an_ack_address" if token is None else "token_not_valid"
            log.info("inbound_email_refused", reason=reason)
            return NOT_AN_ACK_ADDRESS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return OK

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Record the answer for each recipient's token; 250 only once all are recorded."""
        if envelope.mail_from is None or envelope.mail_from in _NULL_SENDERS:
            log.info("inbound_email_ignored", reason="bounce")
            return OK
        # In a thread: parsing a hostile megabyte takes about a second of CPU.
        reply = await asyncio.to_thread(read_email_reply, envelope.original_content or b"")
        if reply.automatic is not None:
            log.info("inbound_email_ignored", reason=reply.automatic)
            return OK
        tokens = dict.fromkeys(
            token
            for token in (is_ack_address(a, self._reply_domain) for a in envelope.rcpt_tos)
            if token is not None
        )
        try:
            with self._in_flight():
                for token in tokens:
                    await self._record(InboundReply(token, reply.first_line, reply.message_id))
        except Exception:  # the boundary of one message: the sender keeps it and retries
            log.exception("inbound_email_not_recorded", replies=len(tokens))
            return TRY_AGAIN_LATER
        log.info("inbound_email_recorded", replies=len(tokens))
        return OK

    async def handle_exception(self, error: Exception) -> str:
        """An error of ours in any command: the sender should try again, not give up."""
        log.error("inbound_smtp_session_failed", exc_info=error)
        return TRY_AGAIN_LATER

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        self._recording += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._recording -= 1
            if not self._recording:
                self._idle.set()
