"""Replies of thousands of tiny MIME parts, sent at once from a process of their own.

`python -m tests.processes.mime_flood PORT ADDRESS COUNT PARTS` sends COUNT replies of PARTS
parts each to ADDRESS at the SMTP server on 127.0.0.1:PORT, all at once, and prints the
server's final answers as a JSON list of codes. A process of its own, so that its CPU does not
slow the test that times the daemon meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiosmtplib

SENDER = "amina.diallo@station.example.org"


def many_parts(index: int, parts: int) -> bytes:
    """A reply whose first part says "1", followed by `parts - 1` parts of one line each."""
    head = (
        f"From: {SENDER}\r\nSubject: Re: Security alert\r\n"
        f"Message-ID: <flood-{index}@station.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    ).encode()
    part = b"--b\r\nContent-Type: text/plain\r\n\r\n1\r\n"
    return head + part * parts + b"--b--\r\n"


async def send(port: int, address: str, message: bytes) -> int:
    """The server's final answer to one message."""
    try:
        await aiosmtplib.send(
            message,
            sender=SENDER,
            recipients=[address],
            hostname="127.0.0.1",
            port=port,
            timeout=120,
        )
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code
    return 250


async def flood(port: int, address: str, count: int, parts: int) -> list[int]:
    """Send `count` replies at once; their answers."""
    messages = [many_parts(index, parts) for index in range(count)]
    return list(await asyncio.gather(*(send(port, address, m) for m in messages)))


if __name__ == "__main__":
    port, address, count, parts = sys.argv[1:5]
    print(json.dumps(asyncio.run(flood(int(port), address, int(count), int(parts)))))
