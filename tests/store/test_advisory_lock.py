"""An advisory lock whose connection its holder gave up, while the server kept the session
(a network gone silent), is taken again by ending that session of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from notifier.store.engine import Database
from notifier.store.scheduler_lock import AdvisoryLock

pytestmark = pytest.mark.postgres

NAME = "notifier test lock"
WORKER = "host-1-abc"


async def client_port(database: Database, name: str) -> int:
    """The local port of the connection the server knows by `name`."""
    async with database.engine.connect() as connection:
        port = await connection.scalar(
            text("SELECT client_port FROM pg_stat_activity WHERE application_name = :name"),
            {"name": name},
        )
    assert port is not None, f"no session named {name!r}"
    return int(port)


def descriptor_of(local_port: int) -> int:
    """This process's descriptor of its TCP socket bound to `local_port`."""
    inodes = {
        fields[9]
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if int(fields[1].split(":")[1], 16) == local_port
    }
    for entry in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = str(entry.readlink())
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(entry.name)
    raise LookupError(f"no socket of this process on port {local_port}")


@contextlib.contextmanager
def silenced_on_our_side(local_port: int) -> Iterator[None]:
    """The client sees its connection end (reads give end of file), while the server, told
    nothing, keeps its session: a duplicate of the socket keeps it open."""
    kept = os.dup(descriptor_of(local_port))
    try:
        with socket.socket(fileno=os.dup(kept)) as sock:
            sock.shutdown(socket.SHUT_RD)
        yield
    finally:
        os.close(kept)


async def given_up(lock: AdvisoryLock) -> bool:
    """Whether the holder's check finds its connection ended, within a second (a reply read
    before the end of file was seen may let a check or two through)."""
    for _ in range(20):
        try:
            await lock.check()
        except Exception:  # the driver's, whatever its kind
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_lock_whose_session_outlived_its_connection_is_taken_again(
    asyncpg_database: Database,
) -> None:
    """The holder's connection ends on its side alone: its session on the server still holds
    the lock, and another replica cannot take it. The holder takes it again within seconds,
    having ended that session; the other still cannot."""
    lock = AdvisoryLock(asyncpg_database, WORKER, key=WORKER, name=NAME)
    rival = AdvisoryLock(asyncpg_database, "host-2-def", key=WORKER, name=NAME)
    try:
        assert await lock.acquire()
        with silenced_on_our_side(await client_port(asyncpg_database, f"{NAME} {WORKER}")):
            assert await given_up(lock), "the holder never saw its connection end"
            assert not await rival.acquire(), "the session the holder gave up holds the lock"
            taken = False
            for _ in range(50):
                taken = await lock.acquire()
                if taken:
                    break
                await asyncio.sleep(0.1)
            assert taken, "the lock's own abandoned session was not ended"
            assert not await rival.acquire()
            await lock.check()
    finally:
        await lock.close()
        await rival.close()
