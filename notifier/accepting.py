"""Accepting connections on a listening socket, one at a time, each only once there is room.

asyncio's own servers accept up to `backlog` connections at each wake-up, however many are
open already, and when the process is out of file descriptors Python 3.11 logs every failed
`accept()` of that backlog, again each second: thousands of lines a second while the
descriptors stay taken. Here a listener accepts one connection, asks `admit` whether to serve
it (which may close another, or wait for one to end), and only then accepts the next; a failed
`accept()` is retried after a pause, and logged at most once a second.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Final, NoReturn

import structlog

log = structlog.get_logger(__name__)

RETRY_SECONDS: Final = 0.1
"""After a failed `accept()` (out of descriptors or memory), how long to wait before the next."""
LOG_EVERY_SECONDS: Final = 1.0

Admit = Callable[[socket.socket], Awaitable[bool]]
"""Decides on a connection just accepted: True to serve it, False once it has been refused and
closed. It may wait, for room to be made."""


class Throttle:
    """Lets an event through at most once per `seconds`, counting the ones held back."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._next = float("-inf")
        self._held_back = 0

    def allows(self, now: float) -> int | None:
        """At `now` (monotonic seconds): None to stay quiet, else how many were held back."""
        if now < self._next:
            self._held_back += 1
            return None
        held_back, self._held_back = self._held_back, 0
        self._next = now + self._seconds
        return held_back


async def accept_connections(
    listening: socket.socket,
    protocol_factory: Callable[[], asyncio.Protocol],
    admit: Admit,
    listener: str,
) -> NoReturn:
    """Serve the connections of `listening` with `protocol_factory`, as `admit` allows.

    `listener` names the listener in logs. It never returns: cancel the task to stop it.
    """
    loop = asyncio.get_running_loop()
    failures = Throttle(LOG_EVERY_SECONDS)
    listening.setblocking(False)
    while True:
        try:
            connection, _ = await loop.sock_accept(listening)
        except OSError as error:
            # EMFILE and its kin: the connection stays queued in the kernel until we retry.
            held_back = failures.allows(loop.time())
            if held_back is not None:
                reason = os.strerror(error.errno) if error.errno else str(error)
                log.warning("accept_failed", listener=listener, error=reason, more=held_back)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        await _serve(loop, connection, protocol_factory, admit)


async def _serve(
    loop: asyncio.AbstractEventLoop,
    connection: socket.socket,
    protocol_factory: Callable[[], asyncio.Protocol],
    admit: Admit,
) -> None:
    """Admit and serve one connection; what goes wrong closes it, and the listener goes on."""
    try:
        if await admit(connection):
            # Awaited: the protocol has seen `connection_made` (and counts as open) before the
            # next connection is accepted.
            await loop.connect_accepted_socket(protocol_factory, connection)
    except OSError:  # the peer left before it was served
        connection.close()
    except Exception:  # the boundary of one connection: the listener must keep accepting
        log.exception("connection_not_served")
        connection.close()
    except BaseException:
        connection.close()
        raise
