"""The HTTP server's bounds: how long a connection may stay idle, and how many may be open.

uvicorn (0.54, h11) alone bounds neither: a connection that never sends a byte, or sends its
request head a byte at a time, is kept for ever (its keep-alive timer starts only after a
response, and any byte stops it); and `limit_concurrency` answers 503 to requests yet keeps
accepting connections, one descriptor each, until the process runs out. Here:

- a connection with no request under way is closed `idle_seconds` after it opened or after
  its last response, whatever bytes trickle in meanwhile: a request's head must arrive whole
  within that time;
- at most `max_connections` are open. A connection beyond that closes the one idle the
  longest; when every one has a request under way, it waits for one of them to end (and the
  listener accepts nothing more meanwhile, leaving new ones queued in the kernel).

Connections are accepted by `notifier.accepting`, one at a time, not by asyncio's server.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Final

import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from notifier.accepting import Throttle, accept_connections

log = structlog.get_logger(__name__)

_BUSY_POLL_SECONDS: Final = 0.05
"""While every connection has a request under way, how often to look for one that ended."""
_FULL_LOG_SECONDS: Final = 10.0


class IdleDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that has no whole request in time."""

    def __init__(self, *args: Any, idle_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = idle_seconds  # type: ignore[assignment] # uvicorn takes whole seconds only

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_idle_timer()

    def data_received(self, data: bytes) -> None:
        # uvicorn stops the idle timer at any byte; it is stopped here only once a whole
        # request head has arrived (uvicorn stops it on the request event).
        self.conn.receive_data(data)
        self.handle_events()

    def idle_until(self) -> float | None:
        """When this connection will be closed for idleness (loop time); None while busy."""
        timer = self.timeout_keep_alive_task
        return None if timer is None or timer.cancelled() else timer.when()

    def close_now(self) -> None:
        """Drop the connection at once, unsent output and all: it is idle, and room is needed."""
        self.transport.abort()

    def _start_idle_timer(self) -> None:
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


class BoundedServer(uvicorn.Server):
    """uvicorn, serving the sockets given to `serve` through a bounded acceptor.

    `serve(sockets=...)` is the only way in: this server binds nothing of its own.
    """

    def __init__(self, config: uvicorn.Config, max_connections: int, idle_seconds: float) -> None:
        super().__init__(config)
        self.max_connections = max_connections
        self._idle_seconds = idle_seconds
        self._listening: list[socket.socket] = []
        self._full = Throttle(_FULL_LOG_SECONDS)

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

    def _new_protocol(self) -> IdleDeadlineProtocol:
        return IdleDeadlineProtocol(
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            idle_seconds=self._idle_seconds,
        )

    async def _admit(self, connection: socket.socket) -> bool:
        """Make room for one more connection: close the one idle the longest, or wait."""
        connections = self.server_state.connections
        while len(connections) >= self.max_connections:
            idle = _longest_idle(connections)
            if idle is None:
                self._log_full("every_connection_busy")
                await asyncio.sleep(_BUSY_POLL_SECONDS)
                continue
            self._log_full("idle_connection_closed")
            idle.close_now()
            await asyncio.sleep(0)  # its `connection_lost` runs next, and frees its place
        return True

    def _log_full(self, outcome: str) -> None:
        held_back = self._full.allows(asyncio.get_running_loop().time())
        if held_back is not None:
            log.warning(
                "http_connections_full",
                max_connections=self.max_connections,
                outcome=outcome,
                more=held_back,
            )


def _longest_idle(connections: set[Any]) -> IdleDeadlineProtocol | None:
    """Of the connections, the one idle the longest; None when every one is busy."""
    chosen: IdleDeadlineProtocol | None = None
    earliest = float("inf")
    for connection in connections:
        if isinstance(connection, IdleDeadlineProtocol):
            until = connection.idle_until()
            if until is not None and until < earliest:
                chosen, earliest = connection, until
    return chosen
