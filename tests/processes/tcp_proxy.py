"""A TCP proxy on loopback that can cut its connections, as a database failover does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Self

CHUNK = 65536


class TcpProxy:
    """Forwards connections to `127.0.0.1:PORT`; `cut()` drops them all and refuses new ones.

    A cut resets both sides of every forwarded connection, as a database server that fails
    over or restarts does; while cut, a new connection is accepted and reset at once, so a
    client sees its connection refused. `restore()` forwards again.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self.is_cut = False
        self.connections = 0
        """Connections forwarded so far."""

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        assert self._server is not None, "the proxy is not started"
        return int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        """Reset every forwarded connection, and refuse new ones until `restore()`."""
        self.is_cut = True
        for client, upstream in list(self._pairs):
            _reset(client)
            _reset(upstream)
        self._pairs.clear()

    def restore(self) -> None:
        """Forward new connections again."""
        self.is_cut = False

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            _reset(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _reset(writer)
            return
        if self.is_cut:  # cut while connecting
            _reset(writer)
            _reset(upstream_writer)
            return
        self.connections += 1
        pair = (writer, upstream_writer)
        self._pairs.add(pair)
        pumps = [
            asyncio.create_task(_pump(reader, upstream_writer)),
            asyncio.create_task(_pump(upstream_reader, writer)),
        ]
        self._pumps.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            self._pumps.difference_update(pumps)
            self._pairs.discard(pair)
            writer.close()
            upstream_writer.close()


async def _pump(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await source.read(CHUNK):
            target.write(chunk)
            await target.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a reset rather than a goodbye: the peer's next read or write fails at once."""
    transport = writer.transport
    if transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:  # linger on, for no time: the close sends RST, not FIN
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
