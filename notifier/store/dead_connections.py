"""Connections to PostgreSQL that find out when the network under them is gone.

A connection whose packets silently vanish (a firewall or NAT forgetting an idle flow, a
cable or a virtual machine lost without a reset) otherwise waits for TCP to give up: about
15 minutes of retransmissions on Linux (`net.ipv4.tcp_retries2`), while the claim, record
or ping on it, and the alert behind it, waits too. And the server keeps that session, with
its locks (a replica's presence, a claim's rows), until its own keepalive gives up: two
hours by default. So on both ends of every connection over TCP:

- data left unacknowledged for `UNACKNOWLEDGED_SECONDS` fails the connection
  (`TCP_USER_TIMEOUT`);
- an idle connection is probed after `KEEPALIVE_IDLE_SECONDS`, then every
  `KEEPALIVE_INTERVAL_SECONDS`, and fails after `KEEPALIVE_PROBES` probes unanswered; the
  probes also keep a firewall's or NAT's memory of the connection alive.

On the daemon's side the failure is then an outage like a reset (`notifier.store.outage`),
waited out on new connections; on the server's side the session ends and its locks go. The
server's side is set per session (`tcp_keepalives_*`, `tcp_user_timeout`), the daemon's on
its socket (asyncpg) or through libpq's parameters (psycopg). A connection over a Unix
socket needs none of it.
"""

from __future__ import annotations

import socket
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

UNACKNOWLEDGED_SECONDS: Final = 15
"""How long data sent on a connection may go unacknowledged before the connection fails."""
KEEPALIVE_IDLE_SECONDS: Final = 10
"""How long a connection may be idle before its other end is probed."""
KEEPALIVE_INTERVAL_SECONDS: Final = 5
KEEPALIVE_PROBES: Final = 3
"""Probes unanswered after which the connection fails: an idle one is found dead within
KEEPALIVE_IDLE_SECONDS + KEEPALIVE_PROBES × KEEPALIVE_INTERVAL_SECONDS (25 s)."""

SERVER_SETTINGS: Final = {
    "tcp_keepalives_idle": str(KEEPALIVE_IDLE_SECONDS),
    "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL_SECONDS),
    "tcp_keepalives_count": str(KEEPALIVE_PROBES),
    "tcp_user_timeout": str(UNACKNOWLEDGED_SECONDS * 1000),
}
"""The server's side, for each session (PostgreSQL ignores them on a Unix socket)."""

_LIBPQ_PARAMETERS: Final = {
    "keepalives": 1,
    "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
    "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
    "keepalives_count": KEEPALIVE_PROBES,
    "tcp_user_timeout": UNACKNOWLEDGED_SECONDS * 1000,
}
_SOCKET_OPTIONS: Final = (
    (socket.SOL_SOCKET, "SO_KEEPALIVE", 1),
    (socket.IPPROTO_TCP, "TCP_KEEPIDLE", KEEPALIVE_IDLE_SECONDS),
    (socket.IPPROTO_TCP, "TCP_KEEPINTVL", KEEPALIVE_INTERVAL_SECONDS),
    (socket.IPPROTO_TCP, "TCP_KEEPCNT", KEEPALIVE_PROBES),
    (socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", UNACKNOWLEDGED_SECONDS * 1000),
)
"""The daemon's side; an option this system's `socket` module lacks is left out."""


def connect_arguments(driver: str, given: dict[str, Any]) -> dict[str, Any]:
    """`given` connect arguments for `driver`, with both ends' settings added where `given`
    does not set them."""
    if driver == "asyncpg":
        server_settings = {**SERVER_SETTINGS, **given.get("server_settings", {})}
        return {**given, "server_settings": server_settings}
    if driver == "psycopg":
        options = " ".join(f"-c {name}={value}" for name, value in SERVER_SETTINGS.items())
        if given.get("options"):
            options = f"{options} {given['options']}"
        return {**_LIBPQ_PARAMETERS, **given, "options": options}
    return given


def watch_sockets(engine: AsyncEngine) -> None:
    """Set the daemon's side on each new asyncpg connection's socket, if it is TCP's."""
    if engine.dialect.driver != "asyncpg":
        return  # psycopg: libpq sets its socket from `connect_arguments`

    def connected(dbapi_connection: Any, _record: object) -> None:
        # asyncpg has no public way to its socket; `_transport` is its asyncio transport.
        transport = getattr(dbapi_connection.driver_connection, "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            set_socket_options(sock)

    event.listen(engine.sync_engine, "connect", connected)


def set_socket_options(sock: Any) -> None:
    """Keepalive probes and a limit on unacknowledged data for `sock`, a TCP socket."""
    for level, name, value in _SOCKET_OPTIONS:
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(level, option, value)
