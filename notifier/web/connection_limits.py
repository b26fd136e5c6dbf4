"""The HTTP server's bounds: how long a connection may idle or take, and how many may be open.

uvicorn (0.54 and 0.55, h11) alone bounds none of these: a connection that never sends a byte, or
sends its request head a byte at a time, is kept for ever (its keep-alive timer starts only
after a response, and any byte stops it); a body may trickle in, and a response wait for its
client, for ever; and `limit_concurrency` answers 503 to requests yet keeps accepting
connections, one descriptor each, until the process runs out. Here:

- a connection with no request under way is closed `idle_seconds` after it opened or after
  its last response, whatever bytes trickle in meanwhile: a request's head must arrive whole
  within that time;
- a request's body must arrive whole within `body_seconds` of its head (408 and closed
  otherwise), and a client that leaves its response waiting in the server for `body_seconds`
  is cut off: neither a trickled body nor an unread response holds a connection for longer;
- at most `max_connections` are open. A connection beyond that closes the one idle the
  longest, else the one that has waited on its client the longest, for a body or to take its
  response, if for `SLOW_CLOSABLE_SECONDS` at least; when every one has a request under way
  and none is that slow, it waits for one of them to end (and the listener accepts nothing
  more meanwhile, leaving new ones queued in the kernel).

Connections are accepted by `notifier.accepting`, one at a time, not by asyncio's server.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, Final

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from notifier.accepting import Throttle, accept_connections

log = structlog.get_logger(__name__)

SLOW_CLOSABLE_SECONDS: Final = 5.0
"""How long a connection must have waited on its client (a body still arriving, a response
not taken) to be closed for a new one when every connection is busy: a webhook's or a
form's body arrives with its head, and Twilio waits 15 s for an answer."""
_BUSY_POLL_SECONDS: Final = 0.05
"""While every connection has a request under way, how often to look for one that ended."""
_LOG_EVERY_SECONDS: Final = 10.0
"""How often a warning about connections is logged at most (the others are counted)."""


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, with deadlines on what a client sends and on what it takes.

    - idle: a connection without a whole request head `idle_seconds` after it opened or after
      its last response is closed;
    - body: a request's body must arrive whole within `body_seconds` of its head, else it is
      answered 408 (or, once its response has begun, cut off) and the connection closed;
    - response: a client that leaves output waiting in the server for `body_seconds` (what
      the kernel's buffers cannot hold) is cut off, whether or not the connection is closing.
    """

    def __init__(
        self, *args: Any, idle_seconds: float, body_seconds: float, late: Throttle, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = idle_seconds  # type: ignore[assignment] # uvicorn takes whole seconds only
        self._body_seconds = body_seconds
        self._late = late
        self._body_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._waiting_since: dict[str, float] = {}
        """Since when (loop time) it has waited on its client: "body", "output"."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Paused (and timed) as soon as any output waits for the client, not after 64 KiB: a
        # smaller answer left unread, even on a connection being closed, is timed too.
        transport.set_write_buffer_limits(high=0)
        self._start_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_body_timer()
        self._stop_write_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn stops the idle timer at any byte; it is stopped here only once a whole
        # request head has arrived (uvicorn stops it on the request event).
        self.conn.receive_data(data)
        self.handle_events()

    def handle_events(self) -> None:
        super().handle_events()
        if self._body_awaited():
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self._body_seconds, self._body_late)
                self._waiting_since["body"] = self.loop.time()
        else:
            self._stop_body_timer()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self._body_seconds, self._response_stalled)
            self._waiting_since["output"] = self.loop.time()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._stop_write_timer()

    def idle_until(self) -> float | None:
        """When this connection will be closed for idleness (loop time); None while busy."""
        timer = self.timeout_keep_alive_task
        return None if timer is None or timer.cancelled() else timer.when()

    def waiting_since(self) -> float | None:
        """Since when (loop time) it has waited on its client, for a request's body or to take
        its response; None while it does not."""
        return min(self._waiting_since.values(), default=None)

    def close_now(self) -> None:
        """Drop the connection at once, unsent output and all: room is needed."""
        self.transport.abort()

    def _start_idle_timer(self) -> None:
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def _stop_body_timer(self) -> None:
        self._waiting_since.pop("body", None)
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _stop_write_timer(self) -> None:
        self._waiting_since.pop("output", None)
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _body_awaited(self) -> bool:
        """Whether a request's head has arrived and its body has not yet arrived whole."""
        cycle = self.cycle
        return (
            cycle is not None
            and cycle.more_body
            and not cycle.disconnected
            and self.conn.their_state is h11.SEND_BODY
        )

    def _body_late(self) -> None:
        """The body did not arrive in time: answer 408 if nothing was answered yet, and close."""
        self._body_timer = None
        self._waiting_since.pop("body", None)
        cycle = self.cycle
        if cycle is None or self.transport.is_closing():
            return
        self._log_late("http_request_body_late")
        if cycle.response_started:
            self.transport.abort()
            return
        cycle.response_started = cycle.disconnected = True  # the app's answer, if any, is dropped
        cycle.message_event.set()  # the app waiting for the body hears that the client left
        for event in _late_body_answer(self._body_seconds):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    def _response_stalled(self) -> None:
        """The client took none of the response in time: drop the connection and what it holds."""
        self._write_timer = None
        self._waiting_since.pop("output", None)
        if self.transport.get_write_buffer_size():
            self._log_late("http_response_not_read")
            self.transport.abort()

    def _log_late(self, event: str) -> None:
        held_back = self._late.allows(self.loop.time())
        if held_back is not None:
            log.warning(event, after_seconds=self._body_seconds, more=held_back)


def _late_body_answer(seconds: float) -> list[h11.Event]:
    """408, in plain text, closing the connection."""
    text = f"The request's body did not arrive within {seconds:g} s.\n".encode("ascii")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode("ascii")),
        (b"connection", b"close"),
    ]
    return [
        h11.Response(status_code=408, headers=headers, reason=b"Request Timeout"),
        h11.Data(data=text),
        h11.EndOfMessage(),
    ]


class BoundedServer(uvicorn.Server):
    """uvicorn, serving the sockets given to `serve` through a bounded acceptor.

    `serve(sockets=...)` is the only way in: this server binds nothing of its own.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        max_connections: int,
        idle_seconds: float,
        body_seconds: float,
    ) -> None:
        super().__init__(config)
        self.max_connections = max_connections
        self._idle_seconds = idle_seconds
        self._body_seconds = body_seconds
        self._listening: list[socket.socket] = []
        self._full: dict[str, Throttle] = {}
        """A throttle for each outcome of a full server, so that each is seen."""
        self._late = Throttle(_LOG_EVERY_SECONDS)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start, with no asyncio server: `main_loop` accepts instead."""
        self._listening = list(sockets or [])
        for sock in self._listening:
            sock.listen(self.config.backlog)  # the kernel's queue, as uvicorn would have it
        await super().startup(sockets=[])

    async def main_loop(self) -> None:
        """Accept on every socket while uvicorn ticks; stop accepting before it shuts down."""
        accepting = [
            asyncio.create_task(accept_connections(sock, self._new_protocol, self._admit, "http"))
            for sock in self._listening
        ]
        try:
            await super().main_loop()
        finally:
            for task in accepting:
                task.cancel()
            await asyncio.gather(*accepting, return_exceptions=True)

    def _new_protocol(self) -> DeadlineProtocol:
        return DeadlineProtocol(
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            idle_seconds=self._idle_seconds,
            body_seconds=self._body_seconds,
            late=self._late,
        )

    async def _admit(self, connection: socket.socket) -> bool:
        """Make room for one more connection: close the one idle the longest, else the one
        that has waited on its client the longest (for `SLOW_CLOSABLE_SECONDS` at least),
        else wait."""
        connections = self.server_state.connections
        loop = asyncio.get_running_loop()
        while len(connections) >= self.max_connections:
            closing, outcome = _longest_idle(connections), "idle_connection_closed"
            if closing is None:
                since = loop.time() - SLOW_CLOSABLE_SECONDS
                closing, outcome = _slowest(connections, since), "slow_connection_closed"
            if closing is None:
                self._log_full("every_connection_busy")
                await asyncio.sleep(_BUSY_POLL_SECONDS)
                continue
            self._log_full(outcome)
            closing.close_now()
            await asyncio.sleep(0)  # its `connection_lost` runs next, and frees its place
        return True

    def _log_full(self, outcome: str) -> None:
        throttle = self._full.setdefault(outcome, Throttle(_LOG_EVERY_SECONDS))
        held_back = throttle.allows(asyncio.get_running_loop().time())
        if held_back is not None:
            log.warning(
                "http_connections_full",
                max_connections=self.max_connections,
                outcome=outcome,
                more=held_back,
            )


def _slowest(connections: set[Any], since: float) -> DeadlineProtocol | None:
    """Of the connections, the one that has waited on its client the longest, if it has
    waited since `since` at least; None otherwise."""
    return _earliest(connections, DeadlineProtocol.waiting_since, since)


def _longest_idle(connections: set[Any]) -> DeadlineProtocol | None:
    """Of the connections, the one idle the longest; None when every one is busy."""
    return _earliest(connections, DeadlineProtocol.idle_until, float("inf"))


def _earliest(
    connections: set[Any],
    when: Callable[[DeadlineProtocol], float | None],
    not_after: float,
) -> DeadlineProtocol | None:
    """Of the connections, the one whose `when` is earliest and not after `not_after`; None
    when there is none (`when` None for all)."""
    timed = [
        (moment, connection)
        for connection in connections
        if isinstance(connection, DeadlineProtocol)
        and (moment := when(connection)) is not None
        and moment <= not_after
    ]
    return min(timed, key=lambda pair: pair[0])[1] if timed else None
