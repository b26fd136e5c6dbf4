"""A child process that reads e-mail replies: raw messages in, what they say out.

Run by `ReplyReaders` as `python -m notifier.inbound.reply_worker MAX_PARTS`. Each message on
standard input, and each reply on standard output, is a frame: a 4-byte big-endian length,
then that many bytes (the raw message; the reply as JSON). It reads until its input ends.
It imports nothing but the standard library and `email_reply`, so it starts in milliseconds.
"""

from __future__ import annotations

import json
import sys
from typing import BinaryIO, Final

from notifier.inbound.email_reply import EmailReply, read_email_reply

LENGTH_BYTES: Final = 4


def frame(payload: bytes) -> bytes:
    """`payload` behind its length."""
    return len(payload).to_bytes(LENGTH_BYTES, "big") + payload


def encode_reply(reply: EmailReply) -> bytes:
    """A reply as JSON (lone surrogates from undecodable headers escaped, and restored)."""
    return json.dumps(
        [reply.first_line, reply.automatic, reply.message_id, reply.truncated]
    ).encode()


def decode_reply(data: bytes) -> EmailReply:
    """The reply `encode_reply` wrote; ValueError when `data` is not one."""
    try:
        first_line, automatic, message_id, truncated = json.loads(data)
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a reply: {data[:80]!r}") from error
    if not (
        isinstance(first_line, str)
        and isinstance(automatic, str | None)
        and isinstance(message_id, str | None)
        and isinstance(truncated, bool)
    ):
        raise ValueError(f"not a reply: {data[:80]!r}")
    return EmailReply(first_line, automatic, message_id, truncated)


def serve(source: BinaryIO, sink: BinaryIO, max_parts: int) -> None:
    """Answer each framed message of `source` with its framed reply on `sink`, until the end."""
    while len(header := source.read(LENGTH_BYTES)) == LENGTH_BYTES:
        raw = source.read(int.from_bytes(header, "big"))
        sink.write(frame(encode_reply(read_email_reply(raw, max_parts))))
        sink.flush()


def main(argv: list[str]) -> int:
    """The process: MAX_PARTS as its one argument."""
    serve(sys.stdin.buffer, sys.stdout.buffer, int(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
