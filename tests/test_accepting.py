"""Accepting connections: out of file descriptors, the listener waits quietly, then serves."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import time

from structlog.testing import capture_logs

from notifier.accepting import accept_connections

WAITING = 2.5
"""Seconds spent out of descriptors: a listener logging every failed accept would log
thousands of lines in that time."""


class Greeter(asyncio.Protocol):
    """Says hello on each connection it is given, then closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"hello\n")
        transport.close()


async def admit_all(connection: socket.socket) -> bool:
    """Serve every connection."""
    return True


def lowest_free_descriptor() -> int:
    """The number the next file this process opens would get."""
    probe = os.open(os.devnull, os.O_RDONLY)
    os.close(probe)
    return probe


async def test_out_of_descriptors_the_listener_waits_and_logs_once_a_second() -> None:
    """Out of descriptors, failed accepts are logged about once a second; then clients are served."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        with capture_logs() as logs:
            accepting = asyncio.create_task(
                accept_connections(listening, Greeter, admit_all, "test")
            )
            resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free_descriptor(), hard))
            try:
                await asyncio.sleep(WAITING)
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            try:
                greetings = await asyncio.to_thread(read_all, clients)
            finally:
                accepting.cancel()
    failures = [entry for entry in logs if entry["event"] == "accept_failed"]
    assert 1 <= len(failures) <= WAITING + 1, failures
    assert failures[0]["error"] == os.strerror(24)  # EMFILE: too many open files
    assert greetings == [b"hello\n"] * 3


def read_all(clients: list[socket.socket]) -> list[bytes]:
    """What each client receives until the server closes it (10 s at most)."""
    deadline = time.monotonic() + 10
    received = []
    for client in clients:
        client.settimeout(max(0.1, deadline - time.monotonic()))
        with client:
            received.append(client.makefile("rb").read())
    return received
