"""The inbound SMTP listener on loopback, driven by the real aiosmtplib client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest
from structlog.testing import capture_logs

from notifier.inbound.smtp_listener import MAX_SESSIONS, InboundReply, InboundSmtpListener

DOMAIN = "reply.example.org"
LIMIT = 64 * 1024
SENDER = "amina.diallo@station.example.org"
TOKENS = frozenset({f"tok{number}" for number in range(12)})


def ack(token: str) -> str:
    """The acknowledgement address of `token`."""
    return f"ack+{token}@{DOMAIN}"


def reply(text: str = "1", *, subject: str = "Re: Security alert", **headers: str) -> EmailMessage:
    """A person's reply with `text` as its body, with a fresh Message-ID."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = ack("tok0")
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="station.example.org")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"{text}\n\nOn Mon, Security Office wrote:\n> Reply 1 if safe, 2 if not\n")
    return message


def message_id(message: EmailMessage) -> str:
    """The Message-ID of `message` without angle brackets."""
    return str(message["Message-ID"]).strip("<>")


class Sink:
    """A `ReplySink` that keeps what it records, and can fail or wait when told."""

    def __init__(self) -> None:
        self.recorded: list[InboundReply] = []
        self.failures = 0
        self.started = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def __call__(self, inbound: InboundReply) -> None:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database unavailable")
        self.recorded.append(inbound)


@pytest.fixture
def sink() -> Sink:
    """A sink that records everything."""
    return Sink()


@pytest.fixture
async def listener(sink: Sink) -> AsyncIterator[InboundSmtpListener]:
    """A listener on a free loopback port accepting the tokens in TOKENS."""
    async with InboundSmtpListener(
        "127.0.0.1", 0, DOMAIN, LIMIT, TOKENS.__contains__, sink
    ) as running:
        yield running


@pytest.fixture
async def client(listener: InboundSmtpListener) -> AsyncIterator[aiosmtplib.SMTP]:
    """A connected aiosmtplib client of `listener`."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5)
    async with smtp:
        yield smtp


async def test_reply_to_a_valid_token_is_recorded(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """A reply to ack+TOKEN is accepted and recorded with its first line and Message-ID."""
    message = reply("2")
    errors, response = await client.send_message(message, recipients=[ack("tok1")])
    assert errors == {}
    assert response.startswith("OK")
    assert sink.recorded == [InboundReply("tok1", "2", message_id(message))]


async def test_greeting_and_size_limit_are_advertised(listener: InboundSmtpListener) -> None:
    """The greeting names the reply domain and notifier; EHLO advertises the size limit."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5)
    greeting = await smtp.connect()
    assert (greeting.code, greeting.message) == (220, f"{DOMAIN} notifier")
    await smtp.ehlo()
    assert smtp.esmtp_extensions["size"] == str(LIMIT)
    assert "smtputf8" in smtp.esmtp_extensions
    await smtp.quit()


@pytest.mark.parametrize(
    "address",
    [ack("unknown"), f"postmaster@{DOMAIN}", "ack+tok1@elsewhere.example.org", "tok1@" + DOMAIN],
)
async def test_other_recipients_are_refused(
    client: aiosmtplib.SMTP, sink: Sink, address: str
) -> None:
    """Unknown tokens, other mailboxes and other domains are refused with 550: not a relay."""
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await client.send_message(reply(), recipients=[address])
    assert [error.code for error in refused.value.recipients] == [550]
    assert "accepts only acknowledgement replies" in refused.value.recipients[0].message
    assert sink.recorded == []


async def test_only_the_acceptable_recipients_are_recorded(
    client: aiosmtplib.SMTP, sink: Sink
) -> None:
    """With a valid and an unknown recipient, only the valid token's reply is recorded."""
    errors, _ = await client.send_message(reply(), recipients=[ack("tok1"), ack("nope")])
    assert [response.code for response in errors.values()] == [550]
    assert [inbound.token for inbound in sink.recorded] == ["tok1"]


async def test_one_message_to_several_tokens_records_each_once(
    client: aiosmtplib.SMTP, sink: Sink
) -> None:
    """A message to several tokens, one of them twice, records each token once."""
    recipients = [ack("tok1"), ack("tok2"), ack("tok1")]
    await client.send_message(reply("1"), recipients=recipients)
    assert [inbound.token for inbound in sink.recorded] == ["tok1", "tok2"]


async def test_recipients_beyond_ten_are_deferred(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """The eleventh recipient of a message gets 452; the first ten are recorded."""
    recipients = [ack(f"tok{number}") for number in range(11)]
    errors, _ = await client.send_message(reply(), recipients=recipients)
    assert {address: response.code for address, response in errors.items()} == {ack("tok10"): 452}
    assert len(sink.recorded) == 10


async def test_message_over_the_size_limit_is_refused(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """A message over max_message_bytes gets 552, declared or not, and nothing is recorded."""
    big = reply("1" + "x" * LIMIT)
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as declared:
        await client.send_message(big, recipients=[ack("tok1")])  # aiosmtplib sends SIZE=
    assert declared.value.code == 552
    await client.mail(SENDER)
    await client.rcpt(ack("tok1"))
    with pytest.raises(aiosmtplib.SMTPDataError) as undeclared:
        await client.data(big.as_bytes())
    assert undeclared.value.code == 552
    assert sink.recorded == []
    await client.send_message(reply("2"), recipients=[ack("tok1")])
    assert [inbound.first_line for inbound in sink.recorded] == ["2"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"subject": "Automatic reply: Security alert"},
    ],
)
async def test_automatic_replies_are_accepted_and_ignored(
    client: aiosmtplib.SMTP, sink: Sink, headers: dict[str, str]
) -> None:
    """An auto-reply gets 250, so it is not resent, and nothing is recorded."""
    with capture_logs() as logs:
        errors, response = await client.send_message(reply(**headers), recipients=[ack("tok1")])
    assert (errors, response.startswith("OK")) == ({}, True)
    assert sink.recorded == []
    assert [entry["event"] for entry in logs if entry["log_level"] == "info"] == [
        "inbound_email_ignored"
    ]


async def test_bounce_is_accepted_and_ignored(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """A message from the null sender (a bounce) gets 250 and nothing is recorded."""
    with capture_logs() as logs:
        errors, _ = await client.sendmail("", [ack("tok1")], reply("1").as_bytes())
    assert errors == {}
    assert sink.recorded == []
    assert {"event": "inbound_email_ignored", "reason": "bounce", "log_level": "info"} in logs


async def test_failed_recording_asks_the_sender_to_retry(
    client: aiosmtplib.SMTP, sink: Sink
) -> None:
    """When recording fails the answer is 451; the sender's retry is recorded once."""
    message = reply("2")
    sink.failures = 1
    with capture_logs() as logs, pytest.raises(aiosmtplib.SMTPDataError) as failed:
        await client.send_message(message, recipients=[ack("tok1")])
    assert failed.value.code == 451
    assert sink.recorded == []
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "inbound_email_not_recorded"
    ]
    await client.send_message(message, recipients=[ack("tok1")])
    assert sink.recorded == [InboundReply("tok1", "2", message_id(message))]


async def test_several_messages_in_one_connection(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """One connection carries several replies, each recorded in order."""
    for token, text in [("tok1", "1"), ("tok2", "2"), ("tok3", "ПОМОЩЬ")]:
        await client.send_message(reply(text), recipients=[ack(token)])
    assert [(i.token, i.first_line) for i in sink.recorded] == [
        ("tok1", "1"),
        ("tok2", "2"),
        ("tok3", "ПОМОЩЬ"),
    ]


async def test_international_sender_and_answer(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """An internationalised sender address (SMTPUTF8) and an Arabic answer are accepted."""
    await client.sendmail(
        "أمينة@station.example.org",
        [ack("tok1")],
        reply("آمن").as_bytes(),
        mail_options=["SMTPUTF8"],
    )
    assert [inbound.first_line for inbound in sink.recorded] == ["آمن"]


async def test_reply_without_text_is_still_recorded(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """A reply with nothing of the person's own is recorded with an empty first line."""
    await client.send_message(reply(""), recipients=[ack("tok1")])
    assert [inbound.first_line for inbound in sink.recorded] == [""]


async def test_logs_carry_neither_addresses_nor_tokens(client: aiosmtplib.SMTP, sink: Sink) -> None:
    """What is logged about replies names no address and no token."""
    with capture_logs() as logs:
        await client.send_message(reply("1"), recipients=[ack("tok1")])
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await client.send_message(reply("1"), recipients=[ack("tok99")])
    assert [entry["event"] for entry in logs] == ["inbound_email_recorded", "inbound_email_refused"]
    text = repr(logs)
    assert "@" not in text
    assert "tok1" not in text
    assert "tok99" not in text


async def test_reply_being_recorded_at_exit_is_finished(sink: Sink) -> None:
    """On exit, a reply whose recording is under way is recorded and answered 250."""
    sink.gate = asyncio.Event()
    listener = InboundSmtpListener("127.0.0.1", 0, DOMAIN, LIMIT, TOKENS.__contains__, sink)
    await listener.__aenter__()
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5)
    await smtp.connect()
    sending = asyncio.create_task(smtp.send_message(reply("2"), recipients=[ack("tok1")]))
    await sink.started.wait()
    closing = asyncio.create_task(listener.__aexit__(None, None, None))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not closing.done()
    sink.gate.set()
    await closing
    errors, response = await sending
    assert (errors, response.startswith("OK")) == ({}, True)
    assert [inbound.first_line for inbound in sink.recorded] == ["2"]
    smtp.close()


async def test_listener_stops_cleanly(sink: Sink) -> None:
    """After exit, open sessions are closed and new connections are refused."""
    async with InboundSmtpListener(
        "127.0.0.1", 0, DOMAIN, LIMIT, TOKENS.__contains__, sink
    ) as listener:
        idle = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5)
        await idle.connect()
        await idle.ehlo()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await idle.noop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5).connect()


async def test_an_error_of_ours_asks_the_sender_to_retry(sink: Sink) -> None:
    """When the token check itself fails, the recipient gets 451 (retry), not a 5xx refusal."""

    def broken(token: str) -> bool:
        raise ValueError("secret key not loaded")

    async with InboundSmtpListener("127.0.0.1", 0, DOMAIN, LIMIT, broken, sink) as listener:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=5)
        async with smtp:
            with capture_logs() as logs, pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
                await smtp.send_message(reply(), recipients=[ack("tok1")])
    assert [error.code for error in refused.value.recipients] == [451]
    assert "inbound_smtp_session_failed" in [entry["event"] for entry in logs]
    assert sink.recorded == []


def many_parts(first: str, parts: int) -> bytes:
    """A reply of `parts` one-line text parts, the first saying `first`."""
    head = (
        f"From: {SENDER}\r\nSubject: Re: Security alert\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    ).encode()
    body = b"".join(
        f"--b\r\nContent-Type: text/plain\r\n\r\n{first if n == 0 else n}\r\n".encode()
        for n in range(parts)
    )
    return head + body + b"--b--\r\n"


def reader_processes() -> list[int]:
    """The reply reader processes this test process has started and that are still there."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
            if parent == os.getpid() and b"reply_worker" in command:
                found.append(int(stat.parent.name))
    return found


async def test_reply_of_more_parts_than_the_limit_is_read_from_its_first(sink: Sink) -> None:
    """A reply of 2,000 parts, over max_parts, is accepted and its first part's answer recorded."""
    async with InboundSmtpListener(
        "127.0.0.1", 0, DOMAIN, 1 << 20, TOKENS.__contains__, sink, max_parts=5
    ) as listener:
        with capture_logs() as logs:
            errors, response = await aiosmtplib.send(
                many_parts("2", 2000),
                sender=SENDER,
                recipients=[ack("tok1")],
                hostname="127.0.0.1",
                port=listener.port,
                timeout=30,
            )
    assert (errors, response) == ({}, "OK")
    assert [inbound.first_line for inbound in sink.recorded] == ["2"]
    assert "inbound_email_truncated" in [entry["event"] for entry in logs]


async def test_connections_beyond_the_session_limit_are_told_to_come_back(
    listener: InboundSmtpListener,
) -> None:
    """Past MAX_SESSIONS open sessions a new connection gets 421 at once; a freed place is reused."""
    sessions = [
        await asyncio.open_connection("127.0.0.1", listener.port) for _ in range(MAX_SESSIONS)
    ]
    try:
        for reader, _ in sessions:
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220 ")
        with capture_logs() as logs:
            refused = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=10)
            with pytest.raises(aiosmtplib.SMTPConnectResponseError) as busy:
                await refused.connect()
        assert busy.value.code == 421
        assert [entry["event"] for entry in logs] == ["inbound_smtp_busy"]
        _, first = sessions.pop(0)
        first.write(b"QUIT\r\n")
        first.close()
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=10)
        for _ in range(50):  # the session ends as soon as QUIT is read
            with contextlib.suppress(aiosmtplib.SMTPConnectResponseError):
                await smtp.connect()
                break
            await asyncio.sleep(0.1)
        assert (await smtp.noop()).code == 250
        await smtp.quit()
    finally:
        for _, writer in sessions:
            writer.close()


async def test_a_full_listener_closes_its_oldest_session_for_a_new_one(sink: Sink) -> None:
    """With MAX_SESSIONS sessions trickling a byte at a time (each resetting the idle
    timeout), a new sender is served in place of the one open the longest, once that one has
    been open `evictable_seconds`: nobody keeps the listener full by being slow."""
    async with InboundSmtpListener(
        "127.0.0.1", 0, DOMAIN, LIMIT, TOKENS.__contains__, sink, evictable_seconds=0.5
    ) as listener:
        sessions = []
        for _ in range(MAX_SESSIONS):
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220 ")
            sessions.append((reader, writer))

        async def trickle() -> None:
            while True:
                for _, writer in sessions:
                    if not writer.is_closing():
                        writer.write(b"N")
                await asyncio.sleep(0.1)

        trickling = asyncio.create_task(trickle())
        try:
            await asyncio.sleep(0.6)
            with capture_logs() as logs:
                errors, response = await aiosmtplib.send(
                    reply("1"),
                    sender=SENDER,
                    recipients=[ack("tok1")],
                    hostname="127.0.0.1",
                    port=listener.port,
                    timeout=10,
                )
            oldest, _ = sessions[0]
            closed = await asyncio.wait_for(oldest.read(), 10)
        finally:
            trickling.cancel()
            for _, writer in sessions:
                writer.close()
    assert (errors, response) == ({}, "OK")
    assert [inbound.first_line for inbound in sink.recorded] == ["1"]
    assert closed == b""  # closed by the listener, nothing more said
    busy = [entry for entry in logs if entry["event"] == "inbound_smtp_busy"]
    assert [entry["outcome"] for entry in busy] == ["oldest_session_closed"]


async def test_a_reader_process_that_dies_asks_the_sender_to_retry(sink: Sink) -> None:
    """When the process reading replies dies, the reply gets 451; the retry is read and recorded."""
    async with InboundSmtpListener(
        "127.0.0.1", 0, DOMAIN, LIMIT, TOKENS.__contains__, sink, readers=1
    ) as listener:
        [reader] = reader_processes()
        os.kill(reader, signal.SIGKILL)
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=10)
        async with smtp:
            message = reply("2")
            with capture_logs() as logs, pytest.raises(aiosmtplib.SMTPDataError) as failed:
                await smtp.send_message(message, recipients=[ack("tok1")])
            assert failed.value.code == 451
            assert "inbound_email_not_read" in [entry["event"] for entry in logs]
            await smtp.send_message(message, recipients=[ack("tok1")])
    assert sink.recorded == [InboundReply("tok1", "2", message_id(message))]
