"""A running daemon keeps its memory under huge unauthenticated bodies, and keeps answering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from notifier.store import schema
from notifier.store.engine import Database
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)

MIB = 1024 * 1024
FIELD_BYTES = 1_000_000  # just under a form parser's usual 1 MiB a field
FIELDS = 256  # 256 MB offered by each request
GROWTH_ALLOWED = 100 * MIB
TAKEN_ALLOWED = 64  # fields (MB) a client gets to write before the server shuts the connection
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass
class HugeForm:
    """A form of `FIELDS` fields of 1 MB each, counting the fields the client got to send."""

    taken: int = field(default=0, init=False)

    async def stream(self) -> AsyncIterator[bytes]:
        """The form, one field at a time."""
        value = b"a" * FIELD_BYTES
        for index in range(FIELDS):
            self.taken += 1
            yield f"F{index}=".encode() + value + b"&"


def resident_bytes(pid: int, key: str = "VmRSS") -> int:
    """A figure of /proc/PID/status (VmRSS: resident now, VmHWM: the peak), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0]) * 1024
    raise AssertionError(f"{key} not in /proc/{pid}/status")


async def post_huge(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> int:
    """Post a huge chunked form to `path`; the fields the client sent before being cut off."""
    form = HugeForm()
    try:
        response = await client.post(path, content=form.stream(), headers=headers)
    except httpx.TransportError:  # the server closed the connection while the body was coming
        return form.taken
    assert response.status_code in (401, 403, 413), response.text
    return form.taken


async def test_huge_chunked_posts_leave_the_daemon_memory_bounded(tmp_path: Path) -> None:
    """Seven concurrent 256 MB chunked posts (webhooks, API): RSS grows < 100 MiB; /healthz answers."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hostile.db'}"
    async with Database.open(url) as database:
        await schema.upgrade(database)
    async with FakeSmtpServer() as smtp, FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        port = free_port()
        log = tmp_path / "daemon.log"
        daemon = start_daemon(daemon_environment(url, smtp.port, twilio.base_url, port), log)
        try:
            await wait_healthy(daemon, port, log)
            base = f"http://127.0.0.1:{port}"
            forged = {"Content-Type": FORM_TYPE, "X-Twilio-Signature": "c2lnbmF0dXJl"}
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                small = await client.post("/webhooks/twilio/sms", content=b"a=1", headers=forged)
                assert small.status_code == 403  # warmed up: the form path has run once
                before = resident_bytes(daemon.pid)
                taken = await asyncio.gather(
                    *(
                        post_huge(client, path, headers)
                        for path in ("/webhooks/twilio/sms", "/webhooks/twilio/status")
                        for headers in (forged, forged, {"Content-Type": FORM_TYPE})
                    ),
                    post_huge(client, "/api/v1/alerts", {"Authorization": "Bearer ntf_x"}),
                )
                healthy = await client.get("/healthz")
            after, peak = resident_bytes(daemon.pid), resident_bytes(daemon.pid, "VmHWM")
        finally:
            stop(daemon)
    figures = f"RSS {before / MIB:.0f} → {after / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB"
    assert after - before < GROWTH_ALLOWED, figures
    assert peak - before < GROWTH_ALLOWED, figures
    assert max(taken) < TAKEN_ALLOWED, f"MB sent by each client: {taken}"
    assert healthy.status_code == 200
