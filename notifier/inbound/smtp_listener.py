"""The inbound SMTP listener: replies to `ack+TOKEN@reply_domain`, stored before accepted.

aiosmtpd's `SMTP` protocol in the daemon's own event loop (not aiosmtpd's threaded
`Controller`), its connections accepted by `notifier.accepting`. What it answers the sending
server:

    a connection beyond MAX_SESSIONS open ones    → the session open the longest is closed
                                                    if it has been open EVICTABLE_SECONDS;
                                                    else 421 4.3.2 at once, and closed
    RCPT TO ack+TOKEN@reply_domain, TOKEN ours   → 250
    any other recipient, domain or token          → 550 5.1.1 (this is not a relay)
    more than 10 recipients                       → 452 4.5.3
    message over max_message_bytes                → 552 (aiosmtpd's data_size_limit)
    bounce (null sender) or automatic reply       → 250, nothing recorded
    reply recorded for every recipient            → 250
    a reply of more than max_parts MIME parts     → as any reply: its first max_parts are read
    recording failed, or any error of ours        → 451 4.3.0: the sender keeps the message
                                                    and tries again later, nothing is lost

A reply with too many parts is not refused: the person's answer is in its first part, and a
refusal would reach them as a bounce they may not read, their answer lost. It is read by
`ReplyReaders`, in child processes, never in the event loop. A reply is accepted only once
`record` has returned, so 250 means it is stored. Neither addresses nor tokens are logged: a
token lets whoever holds it acknowledge.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.accepting import LOG_EVERY_SECONDS, Throttle, accept_connections
from notifier.errors import ConfigError
from notifier.inbound.email_reply import MAX_PARTS, is_ack_address
from notifier.inbound.reply_readers import ReplyReadError, ReplyReaders

log = structlog.get_logger(__name__)

OK: Final = "250 OK"
NOT_AN_ACK_ADDRESS: Final = (
    "550 5.1.1 Mailbox unavailable: this server accepts only acknowledgement replies"
)
TOO_MANY_RECIPIENTS: Final = "452 4.5.3 Too many recipients"
TRY_AGAIN_LATER: Final = "451 4.3.0 Try again later"
MAX_RECIPIENTS: Final = 10
MAX_SESSIONS: Final = 100
"""SMTP sessions open at once; replies from mail servers are short sessions, each well under
a second, so a hundred carry thousands of answers a minute."""
EVICTABLE_SECONDS: Final = 30.0
"""How long a session must have been open to be closed for a new one when MAX_SESSIONS are:
a mail server's reply takes well under a second, so sessions that old are stuck or trickling
bytes to keep the listener full (each read resets aiosmtpd's idle timeout)."""
READERS: Final = 2
"""The default of `email.inbound.parse_concurrency`."""
_IDLE_TIMEOUT_SECONDS: Final = 60.0
_READ_BYTES: Final = 4096
"""Read from a sender at once: about a hundred lines, a millisecond of aiosmtpd's time."""
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

    Port 0 binds a free port, which `port` then gives. Replies are read by `readers` child
    processes, up to `max_parts` MIME parts each.
    """

    def __init__(
        self,
        host: str,
        port: int,
        reply_domain: str,
        max_message_bytes: int,
        accepts: TokenCheck,
        record: ReplySink,
        *,
        max_parts: int = MAX_PARTS,
        readers: int = READERS,
        evictable_seconds: float = EVICTABLE_SECONDS,
    ) -> None:
        self._host = host
        self._port = port
        self._reply_domain = reply_domain
        self._max_message_bytes = max_message_bytes
        self._readers = ReplyReaders(readers, max_parts)
        self._handler = _ReplyHandler(reply_domain, accepts, record, self._readers)
        self._sessions: list[_Session] = []
        self._evictable_seconds = evictable_seconds
        self._busy = Throttle(LOG_EVERY_SECONDS)
        self._listening: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The port listened on: the one bound when 0 was asked for."""
        return self._port

    async def __aenter__(self) -> Self:
        listening = _bind(self._host, self._port)
        try:
            await self._readers.__aenter__()
        except BaseException:
            listening.close()
            raise
        self._listening = listening
        self._port = listening.getsockname()[1]
        self._accepting = asyncio.create_task(self._accept(listening))
        log.info("inbound_smtp_listening", host=self._host, port=self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        listening, self._listening = self._listening, None
        if listening is None or self._accepting is None:
            return
        self._accepting.cancel()  # no new connections
        await asyncio.gather(self._accepting, return_exceptions=True)
        listening.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_SECONDS):
                await self._handler.drain()
        await self._close_sessions()
        await self._readers.__aexit__(exc_type, exc, traceback)
        log.info("inbound_smtp_stopped", port=self._port)

    async def _accept(self, listening: socket.socket) -> None:
        await accept_connections(listening, self._new_session, self._admit, "inbound_smtp")

    async def _admit(self, connection: socket.socket) -> bool:
        """A session for the connection while fewer than MAX_SESSIONS are open, or in place of
        the one open the longest if it has been open `evictable_seconds`; else 421."""
        self._sessions = [session for session in self._sessions if not _finished(session)]
        if len(self._sessions) < MAX_SESSIONS:
            return True
        now = asyncio.get_running_loop().time()
        oldest = min(self._sessions, key=lambda session: session.opened_at)
        if now - oldest.opened_at >= self._evictable_seconds:
            self._sessions.remove(oldest)
            if isinstance(oldest.transport, asyncio.Transport):
                oldest.transport.abort()  # its task ends with it (aiosmtpd cancels it)
            self._log_full("oldest_session_closed", now)
            return True
        with contextlib.suppress(OSError):  # a refusal the sender may not hear is still one
            connection.send(f"421 4.3.2 {self._reply_domain} busy, try again later\r\n".encode())
        connection.close()
        self._log_full("refused", now)
        return False

    def _log_full(self, outcome: str, now: float) -> None:
        held_back = self._busy.allows(now)
        if held_back is not None:
            log.warning(
                "inbound_smtp_busy", max_sessions=MAX_SESSIONS, outcome=outcome, more=held_back
            )

    async def _close_sessions(self) -> None:
        """Close the sessions still open, and end their tasks."""
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
        self._sessions.clear()

    def _new_session(self) -> _Session:
        session = _Session(
            self._handler,
            data_size_limit=self._max_message_bytes,
            enable_SMTPUTF8=True,
            hostname=self._reply_domain,  # aiosmtpd's default resolves the FQDN per connection
            ident="notifier",
            timeout=_IDLE_TIMEOUT_SECONDS,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.append(session)  # `_admit` has just left out the finished ones
        return session


class _Session(SMTP, asyncio.BufferedProtocol):
    """aiosmtpd's session, receiving at most _READ_BYTES at a time.

    aiosmtpd reads a message's lines one by one, without yielding while whole lines are
    buffered; with asyncio's reads of up to 256 KB, twelve senders of short lines held the
    event loop for a second at a time, and /healthz answered 503. A `BufferedProtocol` chooses
    its own buffer, so each turn of the loop reads a few kilobytes a session. (No STARTTLS:
    aiosmtpd's would swap the transport under this buffer.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._received = memoryview(bytearray(_READ_BYTES))
        self.opened_at = asyncio.get_running_loop().time()

    def get_buffer(self, sizehint: int) -> memoryview:
        """The one buffer every read goes into, whatever size asyncio suggests."""
        return self._received

    def buffer_updated(self, nbytes: int) -> None:
        """Hand what was read to aiosmtpd as `data_received` would have."""
        self.data_received(bytes(self._received[:nbytes]))


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket; a port in use or an address not ours is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise ConfigError(
            f"configuration error: email.inbound: cannot listen on {host}:{port}:"
            f" {error.strerror or error}"
        ) from None


def _finished(session: SMTP) -> bool:
    """Whether an aiosmtpd session has ended (its task is done)."""
    task = session._handler_coroutine
    return task is not None and task.done()


class _ReplyHandler:
    """aiosmtpd's handler: one hook per SMTP verb that decides something."""

    def __init__(
        self, reply_domain: str, accepts: TokenCheck, record: ReplySink, readers: ReplyReaders
    ) -> None:
        self._reply_domain = reply_domain
        self._accepts = accepts
        self._record = record
        self._readers = readers
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
        try:
            reply = await self._readers.read(envelope.original_content or b"")
        except ReplyReadError as error:
            log.error("inbound_email_not_read", error=str(error))
            return TRY_AGAIN_LATER
        if reply.truncated:
            log.info("inbound_email_truncated")
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
