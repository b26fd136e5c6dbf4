"""A running daemon bounds its HTTP connections: idle ones are closed, and floods leave it serving."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from notifier.store import schema
from notifier.store.engine import Database
from tests.processes.daemons import daemon_environment, free_port, start_daemon, stop, wait_healthy

FLOOD = 1100
OPEN_FILES = 1024
CLOSED_WITHIN_SECONDS = 10.0
"""Generous: the connections under test are closed after half a second."""


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, *, open_files: int | None = None, **env: str
) -> AsyncIterator[tuple[int, Path]]:
    """A healthy `notifier serve` on a fresh database, with `env` settings; its port and log."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}"
    async with Database.open(url) as database:
        await schema.upgrade(database)
    port = free_port()
    environment = daemon_environment(
        url,
        free_port(),
        "http://127.0.0.1:9",
        port,
        NOTIFIER_EMAIL__BACKEND="console",
        NOTIFIER_SMS__BACKEND="console",
        **env,
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(environment, log, open_files=open_files)
    try:
        await wait_healthy(daemon, port, log)
        yield port, log
    finally:
        stop(daemon)


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """`count` TCP connections to `port` that never send a byte."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:  # this test process holds them all
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    connections = []
    for _ in range(count):
        connection = socket.socket()
        connection.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            connection.connect(("127.0.0.1", port))
        connections.append(connection)
    return connections


async def healthz_status(port: int, seconds: float) -> int | str:
    """The first answer /healthz gives within `seconds`: its status, else the last error."""
    deadline = time.monotonic() + seconds
    outcome: int | str = "no answer"
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                response = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return response.status_code
            except httpx.TransportError as error:
                outcome = repr(error)
            await asyncio.sleep(0.1)
    return outcome


async def closed_by_server(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (all it sends is read)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def send_each_on_its_own(port: int, data: bytes, times: int) -> None:
    """Send `data` `times` times, each on a connection of its own, read until the server
    closes it."""
    for _ in range(times):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        await reader.read()
        writer.close()


def warnings_since(log: Path, before: int) -> list[str]:
    """The warning lines the daemon wrote after its first `before` lines."""
    return [line for line in log.read_text().splitlines()[before:] if '"warning"' in line]


async def trickle(writer: asyncio.StreamWriter, start: bytes) -> None:
    """Send `start`, then a byte every 0.1 s for as long as a test waits, or the server lets it."""
    writer.write(start)
    with contextlib.suppress(ConnectionError):
        for _ in range(int(CLOSED_WITHIN_SECONDS * 10)):
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.1)


def line_count(log: Path) -> int:
    """How many lines the daemon has written so far."""
    return len(log.read_bytes().splitlines())


async def test_a_thousand_idle_connections_leave_healthz_answering(tmp_path: Path) -> None:
    """With 1,024 open files, 1,100 idle connections neither stop /healthz nor flood the log."""
    async with serving(tmp_path, open_files=OPEN_FILES, NOTIFIER_HTTP__KEEP_ALIVE_SECONDS="60") as (
        port,
        log,
    ):
        before = line_count(log)
        flood = idle_connections(port, FLOOD)
        try:
            await asyncio.sleep(1)  # the daemon takes them in
            assert await healthz_status(port, 5) == 200
            logged = line_count(log) - before
        finally:
            for connection in flood:
                connection.close()
    assert logged <= 5, (log.read_text()[-3000:], logged)


async def test_a_connection_that_sends_nothing_is_closed(tmp_path: Path) -> None:
    """A connection that never sends a byte is closed once keep_alive_seconds have passed."""
    async with serving(tmp_path, NOTIFIER_HTTP__KEEP_ALIVE_SECONDS="0.5") as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await closed_by_server(reader, CLOSED_WITHIN_SECONDS)
        finally:
            writer.close()


async def test_a_request_head_sent_byte_by_byte_is_cut_off(tmp_path: Path) -> None:
    """A request head trickling in is cut off at keep_alive_seconds, though bytes keep coming."""
    async with serving(tmp_path, NOTIFIER_HTTP__KEEP_ALIVE_SECONDS="0.5") as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        trickling = asyncio.create_task(trickle(writer, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"))
        try:
            assert await closed_by_server(reader, CLOSED_WITHIN_SECONDS)
        finally:
            trickling.cancel()
            writer.close()


async def test_beyond_max_connections_the_longest_idle_one_is_closed(tmp_path: Path) -> None:
    """At max_connections, a new request is served and the connection idle longest is closed."""
    async with serving(
        tmp_path,
        NOTIFIER_HTTP__MAX_CONNECTIONS="8",
        NOTIFIER_HTTP__KEEP_ALIVE_SECONDS="60",
    ) as (port, _):
        idle = []
        for _ in range(8):
            idle.append(await asyncio.open_connection("127.0.0.1", port))
            await asyncio.sleep(0.05)  # so that the first is the one idle longest
        try:
            assert await healthz_status(port, 5) == 200
            first, _ = idle[0]
            last, _ = idle[-1]
            assert await closed_by_server(first, CLOSED_WITHIN_SECONDS)
            assert not await closed_by_server(last, 0.5)
        finally:
            for _, writer in idle:
                writer.close()


async def test_a_request_body_sent_byte_by_byte_is_answered_408(tmp_path: Path) -> None:
    """A body still trickling in body_seconds after its head gets 408, and the connection ends."""
    async with serving(
        tmp_path, NOTIFIER_HTTP__BODY_SECONDS="0.5", NOTIFIER_HTTP__KEEP_ALIVE_SECONDS="60"
    ) as (port, log):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            b"POST /webhooks/twilio/sms HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: c2lnbmVk\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        trickling = asyncio.create_task(trickle(writer, head))
        try:
            async with asyncio.timeout(CLOSED_WITHIN_SECONDS):
                status = await reader.readline()
            assert await closed_by_server(reader, CLOSED_WITHIN_SECONDS)
        finally:
            trickling.cancel()
            writer.close()
        assert status.startswith(b"HTTP/1.1 408 "), status
        assert await healthz_status(port, 5) == 200
    assert log.read_text().count('"http_request_body_late"') == 1, log.read_text()[-3000:]


async def test_a_client_that_stops_reading_its_responses_is_cut_off(tmp_path: Path) -> None:
    """Responses nobody takes for body_seconds are dropped with their connection."""
    async with serving(
        tmp_path, NOTIFIER_HTTP__BODY_SECONDS="0.5", NOTIFIER_HTTP__KEEP_ALIVE_SECONDS="60"
    ) as (port, log):
        async with httpx.AsyncClient() as client:
            document = await client.get(f"http://127.0.0.1:{port}/api/openapi.json")
        asked = 1000
        whole = asked * len(document.content)  # the bodies alone, about 30 MB
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.connect(("127.0.0.1", port))
        connection.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * asked)
        await asyncio.sleep(3)  # none of it read meanwhile
        reader, writer = await asyncio.open_connection(sock=connection)
        received = 0
        try:
            async with asyncio.timeout(CLOSED_WITHIN_SECONDS):
                with contextlib.suppress(ConnectionError):
                    while chunk := await reader.read(65536):
                        received += len(chunk)
        finally:
            writer.close()
        assert received < whole / 2, (received, whole)
        assert await healthz_status(port, 5) == 200
    assert '"http_response_not_read"' in log.read_text(), log.read_text()[-3000:]


async def test_a_flood_of_bad_requests_writes_a_line_or_two_to_the_log(tmp_path: Path) -> None:
    """300 malformed requests and 300 asking for an upgrade, each a warning of uvicorn's, are
    logged once each, the next one let through saying how many were held back."""
    async with serving(tmp_path) as (port, log):
        before = line_count(log)
        await send_each_on_its_own(port, b"NOT HTTP AT ALL\r\n\r\n", 300)  # answered 400
        upgrade = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\nUpgrade: h2c"
        await send_each_on_its_own(port, upgrade + b"\r\n\r\n", 300)
        assert await healthz_status(port, 5) == 200
        warnings = warnings_since(log, before)
    assert len(warnings) <= 3, warnings[:10]
    assert any("Invalid HTTP request received." in line for line in warnings), warnings


async def test_a_flood_of_unknown_smtp_commands_writes_a_line_or_two_to_the_log(
    tmp_path: Path,
) -> None:
    """50 SMTP sessions of unknown commands, each one a warning of aiosmtpd's, are logged
    once for each of its texts."""
    inbound = free_port()
    async with serving(
        tmp_path,
        NOTIFIER_EMAIL__REPLY_DOMAIN="reply.example.org",
        NOTIFIER_EMAIL__INBOUND__ENABLED="true",
        NOTIFIER_EMAIL__INBOUND__PORT=str(inbound),
    ) as (port, log):
        before = line_count(log)
        await send_each_on_its_own(inbound, b"BOGUS\r\n" * 6, 50)  # the sixth ends it
        assert await healthz_status(port, 5) == 200
        warnings = warnings_since(log, before)
    assert len(warnings) <= 2, warnings[:10]
    assert any("unrecognised" in line for line in warnings), warnings


async def test_beyond_max_connections_the_slowest_sender_makes_room(tmp_path: Path) -> None:
    """With every connection busy trickling a request's body, a new request is served in
    place of the one that has been sending the longest, long before any body's deadline."""
    async with serving(
        tmp_path,
        NOTIFIER_HTTP__MAX_CONNECTIONS="8",
        NOTIFIER_HTTP__BODY_SECONDS="600",
        NOTIFIER_HTTP__KEEP_ALIVE_SECONDS="60",
    ) as (port, log):
        head = (
            b"POST /webhooks/twilio/sms HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: c2lnbmVk\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000\r\n\r\n"
        )
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
        trickling = [asyncio.create_task(trickle(writer, head)) for _, writer in slow]
        try:
            assert await healthz_status(port, 30) == 200
            first, _ = slow[0]
            assert await closed_by_server(first, CLOSED_WITHIN_SECONDS)
        finally:
            for task in trickling:
                task.cancel()
            for _, writer in slow:
                writer.close()
    assert '"slow_connection_closed"' in log.read_text(), log.read_text()[-3000:]
