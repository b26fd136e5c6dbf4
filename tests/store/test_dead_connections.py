"""Connections to PostgreSQL carry keepalives and a limit on unacknowledged data, both ends."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from notifier.store.dead_connections import (
    KEEPALIVE_IDLE_SECONDS,
    KEEPALIVE_INTERVAL_SECONDS,
    KEEPALIVE_PROBES,
    UNACKNOWLEDGED_SECONDS,
)
from notifier.store.engine import create_engine

pytestmark = pytest.mark.postgres

DRIVERS = ("asyncpg", "psycopg")
SERVER_SIDE = {
    "tcp_keepalives_idle": str(KEEPALIVE_IDLE_SECONDS),
    "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL_SECONDS),
    "tcp_keepalives_count": str(KEEPALIVE_PROBES),
    "tcp_user_timeout": str(UNACKNOWLEDGED_SECONDS * 1000),
}
DAEMON_SIDE = {
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE): 1,
    (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE): KEEPALIVE_IDLE_SECONDS,
    (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL): KEEPALIVE_INTERVAL_SECONDS,
    (socket.IPPROTO_TCP, socket.TCP_KEEPCNT): KEEPALIVE_PROBES,
    (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT): UNACKNOWLEDGED_SECONDS * 1000,
}


def options_of(sock: socket.socket) -> dict[tuple[int, int], int]:
    """The socket's values of the options the daemon sets."""
    return {(level, name): sock.getsockopt(level, name) for level, name in DAEMON_SIDE}


def socket_of(driver_connection: Any) -> socket.socket:
    """A duplicate of the TCP socket under a driver's connection (same options)."""
    if hasattr(driver_connection, "pgconn"):  # psycopg: libpq's descriptor
        return socket.socket(fileno=socket.dup(driver_connection.pgconn.socket))
    sock = driver_connection._transport.get_extra_info("socket")  # asyncpg
    return socket.socket(fileno=socket.dup(sock.fileno()))


@pytest.mark.parametrize("driver", DRIVERS)
async def test_both_ends_of_a_connection_give_up_on_a_silent_network(
    postgres_url: str, driver: str
) -> None:
    """The server's session and the daemon's socket each probe an idle connection and fail
    one whose data goes unacknowledged."""
    url = make_url(postgres_url).set(drivername=f"postgresql+{driver}")
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as connection:
            shown = {
                name: str(await connection.scalar(text(f"SHOW {name}"))) for name in SERVER_SIDE
            }
            raw = await connection.get_raw_connection()
            with socket_of(raw.driver_connection) as sock:
                daemon_side = options_of(sock)
    finally:
        await engine.dispose()
    assert shown == SERVER_SIDE
    assert daemon_side == DAEMON_SIDE


async def test_settings_given_for_the_server_are_kept_beside_them(postgres_url: str) -> None:
    """`server_settings` passed in (a schema's search path, as tests use) still apply."""
    engine = create_engine(
        postgres_url, connect_args={"server_settings": {"application_name": "kept beside"}}
    )
    try:
        async with engine.connect() as connection:
            name = await connection.scalar(text("SHOW application_name"))
            idle = await connection.scalar(text("SHOW tcp_keepalives_idle"))
    finally:
        await engine.dispose()
    assert (name, idle) == ("kept beside", str(KEEPALIVE_IDLE_SECONDS))
