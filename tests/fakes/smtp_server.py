"""A scriptable SMTP server on loopback, built on aiosmtpd, running in the caller's event loop.

    async with FakeSmtpServer(starttls=True) as server:
        server.refuse_recipient("gone@example.org", 550, "5.1.1 no such user")
        server.answer_data(451, "4.3.0 try later", times=2)
        server.drop_on_data()            # close the connection abruptly on the next DATA
        server.drop_on_data(seconds=2)   # ... on every DATA for the next 2 s
        server.refuse_service(seconds=3) # 421 and close, at greetings and DATA, for 3 s
        server.stall_data()              # hold the next DATA until the client gives up
        server.close_client_connections()  # close every open connection now
        ...                              # send to 127.0.0.1:server.port
        server.messages, server.connections_opened, server.dropped, server.refused_service

`python -m tests.fakes.smtp_server --port N [--delay S]` runs one that accepts everything, for
benchmarks (answering each DATA S seconds late, as a relay writing to its queue does): it
prints `ready PORT`, and `received COUNT` when stopped by SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import time
from collections import deque
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Self

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

_PARSER = BytesParser(policy=policy.default)
_SHUTDOWN_WAIT_SECONDS = 2.0
SERVICE_NOT_AVAILABLE = "421 4.3.2 Service not available, closing transmission channel"


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message the server accepted: the envelope, the parsed message, and whether over TLS."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    tls: bool


class FakeSmtpServer:
    """An SMTP server on 127.0.0.1 whose answers the test scripts; an async context manager.

    `starttls` offers STARTTLS and `implicit_tls` speaks TLS from the first byte, both with a
    certificate from `ca` (a `trustme` CA; `client_ssl_context()` trusts it). `auth` is a
    (user, password) pair the client must log in with (after TLS, as aiosmtpd insists).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
        keep_messages: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.port = port
        self.messages: list[ReceivedMessage] = []
        self.received = 0
        self.first_at: float | None = None
        """Wall-clock time (time.time()) of the first accepted message, for benchmarks."""
        self.last_at: float | None = None
        self.connections_opened = 0
        self.dropped = 0
        """Connections closed at DATA without an answer (`drop_on_data`)."""
        self.refused_service = 0
        """421 answers given, each closing its connection (`refuse_service`)."""
        self.data_stalled = asyncio.Event()
        self.ca: trustme.CA | None = trustme.CA() if starttls or implicit_tls else None
        self._tls_context = self._server_ssl_context() if self.ca is not None else None
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self._auth = auth
        self._keep_messages = keep_messages
        self.delay = delay
        """Seconds before each message accepted is answered."""
        self._refusals: dict[str, str] = {}
        self._data_answers: deque[str] = deque()
        self._drops = 0
        self._drop_until = 0.0
        self._unavailable = 0
        self._unavailable_until = 0.0
        self._stalls = 0
        self._protocols: list[Any] = []
        self._server: asyncio.Server | None = None

    # Scripting

    def refuse_recipient(
        self, address: str, code: int = 550, text: str = "5.1.1 no such user"
    ) -> None:
        """Answer RCPT TO for `address` with `code text`, from now on."""
        self._refusals[address.lower()] = f"{code} {text}"

    def answer_data(self, code: int, text: str, *, times: int = 1) -> None:
        """Answer the next `times` messages' DATA with `code text` instead of accepting them."""
        self._data_answers.extend([f"{code} {text}"] * times)

    def drop_on_data(self, *, times: int = 1, seconds: float | None = None) -> None:
        """On the next `times` DATA, or on every DATA for `seconds` from now, close the
        connection without answering (the message is not kept)."""
        if seconds is None:
            self._drops += times
        else:
            self._drop_until = time.monotonic() + seconds

    def refuse_service(self, *, times: int = 1, seconds: float | None = None) -> None:
        """Answer `421 Service not available` and close the connection, as a relay going down
        does: at the greeting of a new connection and at the DATA of an open one (the message
        is not kept), the next `times` such answers, or every one for `seconds` from now."""
        if seconds is None:
            self._unavailable += times
        else:
            self._unavailable_until = time.monotonic() + seconds

    def stall_data(self, *, times: int = 1) -> None:
        """Never answer the next `times` DATA (set `data_stalled` when one is reached)."""
        self._stalls += times

    def close_client_connections(self) -> None:
        """Close every open connection from the server's side, as an idle timeout would."""
        for protocol in self._protocols:
            if protocol.transport is not None:
                protocol.transport.close()

    @property
    def open_connections(self) -> int:
        """How many client connections are still open on the server's side."""
        return sum(1 for protocol in self._protocols if not _finished(protocol))

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate."""
        if self.ca is None:
            raise RuntimeError("this server was started without TLS")
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    # Lifecycle

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection,
            "127.0.0.1",
            self.port,
            ssl=self._tls_context if self._implicit_tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self.close_client_connections()
        handlers = [p._handler_coroutine for p in self._protocols if p._handler_coroutine]
        for handler in handlers:
            # Closing does not reach a session stuck in a failed STARTTLS handshake.
            handler.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=_SHUTDOWN_WAIT_SECONDS)
        await self._server.wait_closed()

    def _server_ssl_context(self) -> ssl.SSLContext:
        assert self.ca is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    def _new_connection(self) -> Any:
        self.connections_opened += 1
        if self._refusing_service():
            return _Unavailable()
        protocol = SMTP(
            _Handler(self),
            hostname="fake-smtp.test",
            tls_context=self._tls_context if self._starttls else None,
            auth_required=self._auth is not None,
            authenticator=self._authenticate if self._auth is not None else None,
            loop=asyncio.get_running_loop(),
        )
        self._protocols = [p for p in self._protocols if not _finished(p)]
        self._protocols.append(protocol)
        return protocol

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        valid = isinstance(data, LoginPassword) and self._auth == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=valid, handled=False)

    # Hooks, called by _Handler

    def _rcpt_answer(self, address: str) -> str | None:
        return self._refusals.get(address.lower())

    def _refusing_service(self) -> bool:
        """Whether the next greeting or DATA is answered 421 (counted as given)."""
        refusing = self._unavailable > 0 or time.monotonic() < self._unavailable_until
        if refusing:
            self._unavailable = max(0, self._unavailable - 1)
            self.refused_service += 1
        return refusing

    async def _data_answer(self, server: Any, envelope: Any) -> str:
        if self._drops or time.monotonic() < self._drop_until:
            self._drops = max(0, self._drops - 1)
            self.dropped += 1
            server.transport.abort()
            await asyncio.Event().wait()  # cancelled by aiosmtpd when it sees the connection go
        if self._refusing_service():
            await server.push(SERVICE_NOT_AVAILABLE)
            server.transport.close()
            await asyncio.Event().wait()  # cancelled by aiosmtpd when it sees the connection go
        if self._stalls:
            self._stalls -= 1
            self.data_stalled.set()
            await asyncio.Event().wait()  # until the client goes away
        if self._data_answers:
            return self._data_answers.popleft()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received += 1
        self.last_at = time.time()
        self.first_at = self.first_at or self.last_at
        if self._keep_messages:
            message = _PARSER.parsebytes(envelope.original_content)
            assert isinstance(message, EmailMessage)
            tls = server.transport.get_extra_info("ssl_object") is not None
            self.messages.append(
                ReceivedMessage(envelope.mail_from, tuple(envelope.rcpt_tos), message, tls)
            )
        return "250 2.0.0 OK"


class _Unavailable(asyncio.Protocol):
    """A connection refused at its greeting: 421, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(f"{SERVICE_NOT_AVAILABLE}\r\n".encode())
        transport.close()


def _finished(protocol: Any) -> bool:
    """Whether an aiosmtpd connection has ended (its session task is done)."""
    task = protocol._handler_coroutine
    return task is not None and bool(task.done())


class _Handler:
    """aiosmtpd's handler: one method per SMTP verb the test scripts."""

    def __init__(self, fake: FakeSmtpServer) -> None:
        self._fake = fake

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self._fake._rcpt_answer(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return await self._fake._data_answer(server, envelope)


async def _serve(port: int, delay: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with FakeSmtpServer(port=port, keep_messages=False, delay=delay) as server:
        print(f"ready {server.port}", flush=True)
        await stop.wait()
    print(f"received {server.received} first {server.first_at} last {server.last_at}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run an accept-everything server until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds before each message is answered"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.delay))


if __name__ == "__main__":
    main()
