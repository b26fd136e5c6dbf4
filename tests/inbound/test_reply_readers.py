"""Replies read in child processes say what they say when read in this one."""

from __future__ import annotations

import asyncio
import io

import pytest

from notifier.inbound.email_reply import EmailReply, read_email_reply
from notifier.inbound.reply_readers import ReplyReaders
from notifier.inbound.reply_worker import decode_reply, encode_reply, frame, serve

MESSAGES = [
    b"Subject: Re: Alert\r\nMessage-ID: <m1@example.org>\r\n\r\n1 safe\r\n",
    "Subject: Re: تنبيه\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nآمن\r\n".encode(),
    b"Subject: Out of office\r\n\r\nBack on Monday\r\n",
    b"Message-ID: <\xff\xfe@example.org>\r\n\r\n2\r\n",  # undecodable: lone surrogates
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\n2\r\n" * 500,
    b"",
]


@pytest.mark.parametrize(
    "reply",
    [
        EmailReply("1", None, "m1@example.org"),
        EmailReply("", "vacation", None, truncated=True),
        EmailReply("آمن", None, "\udcff\udcfe@example.org"),
    ],
)
def test_reply_survives_the_trip_between_processes(reply: EmailReply) -> None:
    """A reply encoded by a reader decodes to the same, surrogates included."""
    assert decode_reply(encode_reply(reply)) == reply


@pytest.mark.parametrize("data", [b"", b"{}", b"[1, 2, 3, 4]", b'["", null, null]', b"\xff"])
def test_what_is_not_a_reply_is_refused(data: bytes) -> None:
    """Bytes that are not an encoded reply raise ValueError, never a wrong reply."""
    with pytest.raises(ValueError, match="not a reply"):
        decode_reply(data)


def test_a_reader_answers_each_message_in_turn() -> None:
    """The reader's loop answers framed messages in order and stops at the end of its input."""
    answers = io.BytesIO()
    serve(io.BytesIO(b"".join(frame(raw) for raw in MESSAGES)), answers, 3)
    replies, data = [], answers.getvalue()
    while data:
        size = int.from_bytes(data[:4], "big")
        replies.append(decode_reply(data[4 : 4 + size]))
        data = data[4 + size :]
    assert replies == [read_email_reply(raw, 3) for raw in MESSAGES]


async def test_replies_read_by_child_processes_are_read_as_here() -> None:
    """Reader processes, several messages at once, give what reading in this process gives."""
    async with ReplyReaders(2, 3) as readers:
        replies = await asyncio.gather(*(readers.read(raw) for raw in MESSAGES * 3))
    assert replies == [read_email_reply(raw, 3) for raw in MESSAGES * 3]
