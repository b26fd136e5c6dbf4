"""The SMTP channel against a real SMTP server (aiosmtpd) on loopback, through real aiosmtplib."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiosmtplib
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from notifier.channels.base import OutgoingEmail, OutgoingSms
from notifier.channels.console import ConsoleEmailChannel, ConsoleSmsChannel
from notifier.channels.email import (
    STARTTLS_UNAVAILABLE,
    SmtpEmailChannel,
    classify_smtp_error,
)
from notifier.errors import PermanentSendError, SendError, TransientSendError
from notifier.settings import EmailSettings
from tests.fakes.smtp_server import FakeSmtpServer

TO = "amina@station.example.org"
FROM = "ens@hq.example.org"


def email_settings(server: FakeSmtpServer, **changes: Any) -> EmailSettings:
    """Settings that reach `server` in clear, overridden by `changes`."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "tls": "none",
        "from_address": FROM,
        "pool_size": 4,
        "timeout_seconds": 5.0,
    }
    return EmailSettings(**(values | changes))


def alert(**changes: Any) -> OutgoingEmail:
    """An alert e-mail, overridden by `changes`."""
    values: dict[str, Any] = {
        "to": TO,
        "subject": "Security alert",
        "text": "Shelter in place. Reply 1 if safe, 2 if you need help.",
        "html": "<p>Shelter in place.</p>",
        "reply_to": "ack+token@reply.example.org",
    }
    return OutgoingEmail(**(values | changes))


async def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (bounded) until `condition` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def server() -> AsyncIterator[FakeSmtpServer]:
    """A plain-text fake SMTP server."""
    async with FakeSmtpServer() as running:
        yield running


async def test_message_arrives_with_headers_both_parts_and_utf8_intact(
    server: FakeSmtpServer,
) -> None:
    """The delivered message has every header, both alternatives, and Arabic and Chinese text intact."""
    subject = "تنبيه أمني — 安全警报 — Security alert"
    text = "ابقوا في أماكنكم.\n请留在原地。\nReply 1 if safe, 2 if you need help."
    html = "<p>ابقوا في أماكنكم.</p><p>请留在原地。</p>"
    message = alert(subject=subject, text=text, html=html, headers={"X-Alert-Id": "A-42"})
    async with SmtpEmailChannel(email_settings(server)) as channel:
        message_id = await channel.send(message)

    [received] = server.messages
    mime = received.message
    assert received.mail_from == FROM
    assert received.rcpt_tos == (TO,)
    assert received.tls is False
    assert mime["From"] == FROM
    assert mime["To"] == TO
    assert mime["Reply-To"] == "ack+token@reply.example.org"
    assert mime["Subject"] == subject
    assert mime["Date"].datetime is not None
    assert mime["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@hq.example.org>")
    assert mime["Auto-Submitted"] == "auto-generated"
    assert mime["X-Alert-Id"] == "A-42"
    assert mime.get_content_type() == "multipart/alternative"
    plain = mime.get_body(("plain",))
    rich = mime.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content_charset() == "utf-8"
    # MIME text travels with CRLF line ends: compare lines, not line ends.
    assert plain.get_content().splitlines() == text.splitlines()
    assert rich.get_content().splitlines() == html.splitlines()


async def test_connections_are_reused_within_pool_size(server: FakeSmtpServer) -> None:
    """Twenty concurrent sends on a pool of four open at most four connections, then reuse them."""
    async with SmtpEmailChannel(email_settings(server, pool_size=4)) as channel:
        ids = await asyncio.gather(*(channel.send(alert()) for _ in range(20)))
        opened = server.connections_opened
        for _ in range(5):
            await channel.send(alert())

    assert len(server.messages) == 25
    assert len(set(ids)) == 20
    assert 1 <= opened <= 4
    assert server.connections_opened == opened


async def test_sequential_sends_share_one_connection(server: FakeSmtpServer) -> None:
    """One send after another goes over the same connection."""
    async with SmtpEmailChannel(email_settings(server)) as channel:
        for _ in range(5):
            await channel.send(alert())

    assert len(server.messages) == 5
    assert server.connections_opened == 1


async def test_connection_dropped_during_data_is_transient_and_next_send_reconnects(
    server: FakeSmtpServer,
) -> None:
    """A connection closed mid-DATA gives TransientSendError; the next send succeeds on a new one."""
    async with SmtpEmailChannel(email_settings(server)) as channel:
        await channel.send(alert(subject="first"))
        server.drop_on_data()
        with pytest.raises(TransientSendError) as failure:
            await channel.send(alert(subject="lost"))
        await channel.send(alert(subject="after"))

    assert failure.value.code is None
    assert [m.message["Subject"] for m in server.messages] == ["first", "after"]
    assert server.connections_opened == 2


@pytest.mark.parametrize("code", [421, 451])
async def test_data_reply_4xx_is_transient_with_its_code(server: FakeSmtpServer, code: int) -> None:
    """A 421 or 451 answer to DATA is a TransientSendError carrying that code."""
    server.answer_data(code, "4.3.0 try again later")
    async with SmtpEmailChannel(email_settings(server)) as channel:
        with pytest.raises(TransientSendError) as failure:
            await channel.send(alert())
        await channel.send(alert())

    assert failure.value.code == str(code)
    assert len(server.messages) == 1


async def test_data_reply_554_is_permanent(server: FakeSmtpServer) -> None:
    """A 5xx answer to DATA (the message itself refused) is a PermanentSendError with the code."""
    server.answer_data(554, "5.7.1 message refused")
    async with SmtpEmailChannel(email_settings(server)) as channel:
        with pytest.raises(PermanentSendError) as failure:
            await channel.send(alert())

    assert failure.value.code == "554"


async def test_recipient_refused_550_is_permanent(server: FakeSmtpServer) -> None:
    """A 550 refusal of the recipient is a PermanentSendError with code 550; others still go."""
    server.refuse_recipient("gone@station.example.org", 550, "5.1.1 no such user")
    async with SmtpEmailChannel(email_settings(server)) as channel:
        with pytest.raises(PermanentSendError) as failure:
            await channel.send(alert(to="gone@station.example.org"))
        await channel.send(alert())

    assert failure.value.code == "550"
    assert [m.rcpt_tos for m in server.messages] == [(TO,)]


async def test_recipient_refused_451_is_transient(server: FakeSmtpServer) -> None:
    """A 451 refusal of the recipient (greylisting) is a TransientSendError with code 451."""
    server.refuse_recipient(TO, 451, "4.7.1 greylisted, try later")
    async with SmtpEmailChannel(email_settings(server)) as channel:
        with pytest.raises(TransientSendError) as failure:
            await channel.send(alert())

    assert failure.value.code == "451"
    assert server.messages == []


async def test_starttls_required_but_not_offered_sends_nothing_in_clear(
    server: FakeSmtpServer,
) -> None:
    """When the server offers no STARTTLS the send fails transiently and no message is delivered."""
    settings = email_settings(server, tls="starttls")
    with capture_logs() as logs:
        async with SmtpEmailChannel(settings) as channel:
            with pytest.raises(TransientSendError, match=STARTTLS_UNAVAILABLE):
                await channel.send(alert())

    assert server.messages == []
    assert any(entry["event"] == "smtp_starttls_unavailable" for entry in logs)


async def test_starttls_offered_delivers_over_tls() -> None:
    """With STARTTLS offered, the message is delivered inside TLS, verified against the test CA."""
    async with FakeSmtpServer(starttls=True) as tls_server:
        settings = email_settings(tls_server, tls="starttls")
        async with SmtpEmailChannel(settings, tls_server.client_ssl_context()) as channel:
            await channel.send(alert())

    [received] = tls_server.messages
    assert received.tls is True


async def test_starttls_with_unknown_certificate_is_transient() -> None:
    """A certificate the client does not trust fails the send transiently; nothing is delivered."""
    async with FakeSmtpServer(starttls=True) as tls_server:
        settings = email_settings(tls_server, tls="starttls")
        async with SmtpEmailChannel(settings) as channel:
            with pytest.raises(TransientSendError):
                await channel.send(alert())

    assert tls_server.messages == []


async def test_implicit_tls_delivers_over_tls() -> None:
    """With tls = "implicit" the connection is TLS from the first byte."""
    async with FakeSmtpServer(implicit_tls=True) as tls_server:
        settings = email_settings(tls_server, tls="implicit")
        async with SmtpEmailChannel(settings, tls_server.client_ssl_context()) as channel:
            await channel.send(alert())

    [received] = tls_server.messages
    assert received.tls is True


async def test_login_with_the_right_password_delivers() -> None:
    """A server that requires AUTH accepts the message after the channel logs in over TLS."""
    async with FakeSmtpServer(starttls=True, auth=("ens", "s3cret")) as auth_server:
        settings = email_settings(
            auth_server, tls="starttls", username="ens", password=SecretStr("s3cret")
        )
        async with SmtpEmailChannel(settings, auth_server.client_ssl_context()) as channel:
            await channel.send(alert())

    assert len(auth_server.messages) == 1


async def test_wrong_password_is_transient_535_and_logged() -> None:
    """A refused login (535) is transient, so no message fails for good, and is logged as an error."""
    async with FakeSmtpServer(starttls=True, auth=("ens", "s3cret")) as auth_server:
        settings = email_settings(
            auth_server, tls="starttls", username="ens", password=SecretStr("wrong")
        )
        with capture_logs() as logs:
            async with SmtpEmailChannel(settings, auth_server.client_ssl_context()) as channel:
                with pytest.raises(TransientSendError) as failure:
                    await channel.send(alert())

    assert failure.value.code == "535"
    assert auth_server.messages == []
    [problem] = [entry for entry in logs if entry["event"] == "smtp_configuration_problem"]
    assert problem["log_level"] == "error"
    assert "wrong" not in str(problem)


async def test_cancelled_send_drops_its_connection(server: FakeSmtpServer) -> None:
    """A send cancelled mid-DATA closes its connection; the next send works on a fresh one."""
    async with SmtpEmailChannel(email_settings(server)) as channel:
        await channel.send(alert(subject="first"))
        server.stall_data()
        stalled = asyncio.create_task(channel.send(alert(subject="cancelled")))
        async with asyncio.timeout(5):
            await server.data_stalled.wait()
        stalled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stalled
        await channel.send(alert(subject="after"))

    assert [m.message["Subject"] for m in server.messages] == ["first", "after"]
    assert server.connections_opened == 2


async def test_timeout_is_transient_and_drops_the_connection(server: FakeSmtpServer) -> None:
    """A server that never answers DATA makes the send time out as transient; the next reconnects."""
    async with SmtpEmailChannel(email_settings(server, timeout_seconds=0.3)) as channel:
        await channel.send(alert(subject="first"))
        server.stall_data()
        with pytest.raises(TransientSendError, match="no answer"):
            await channel.send(alert(subject="stalled"))
        await channel.send(alert(subject="after"))

    assert [m.message["Subject"] for m in server.messages] == ["first", "after"]
    assert server.connections_opened == 2


async def test_idle_connection_closed_by_server_is_replaced(server: FakeSmtpServer) -> None:
    """An idle pooled connection the server has closed is not used; the send opens a new one."""
    async with SmtpEmailChannel(email_settings(server)) as channel:
        await channel.send(alert(subject="first"))
        server.close_client_connections()
        await eventually(lambda: server.open_connections == 0)
        await channel.send(alert(subject="after"))

    assert [m.message["Subject"] for m in server.messages] == ["first", "after"]
    assert server.connections_opened == 2


async def test_idle_connection_is_probed_before_reuse(server: FakeSmtpServer) -> None:
    """A connection idle past `probe_idle_after` is checked with NOOP; a dead one is replaced."""
    settings = email_settings(server)
    async with SmtpEmailChannel(settings, probe_idle_after=0.0) as channel:
        await channel.send(alert(subject="first"))
        await channel.send(alert(subject="second"))
        assert server.connections_opened == 1
        server.close_client_connections()
        await channel.send(alert(subject="after"))

    assert [m.message["Subject"] for m in server.messages] == ["first", "second", "after"]
    assert server.connections_opened == 2


@pytest.mark.parametrize(
    "message",
    [
        alert(headers={"X-Alert-Id": "A-1\r\nBcc: spy@example.org"}),
        alert(headers={"X-Alert-Id": "A-1\nX-Evil: 1"}),
        alert(subject="Alert\r\nBcc: spy@example.org"),
        alert(reply_to="ack@reply.example.org\nBcc: spy@example.org"),
        alert(to="amina@station.example.org\r\nBcc: spy@example.org"),
        alert(headers={"Bcc": "spy@example.org"}),
        alert(headers={"X-Bad Name": "1"}),
    ],
)
async def test_header_injection_is_permanent_and_nothing_is_sent(
    server: FakeSmtpServer, message: OutgoingEmail
) -> None:
    """A header value with CR or LF (or a header the channel owns) is refused before connecting."""
    async with SmtpEmailChannel(email_settings(server)) as channel:
        with pytest.raises(PermanentSendError):
            await channel.send(message)

    assert server.connections_opened == 0
    assert server.messages == []


async def test_connection_refused_is_transient() -> None:
    """No server listening on the port is a transient failure."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = EmailSettings(host="127.0.0.1", port=port, tls="none", timeout_seconds=5)
    async with SmtpEmailChannel(settings) as channel:
        with pytest.raises(TransientSendError):
            await channel.send(alert())


async def test_closing_the_channel_quits_its_connections(server: FakeSmtpServer) -> None:
    """Leaving the channel's context closes every pooled connection and refuses later sends."""
    channel = SmtpEmailChannel(email_settings(server))
    async with channel:
        await asyncio.gather(*(channel.send(alert()) for _ in range(4)))
        assert server.open_connections >= 1
    await eventually(lambda: server.open_connections == 0)
    with pytest.raises(TransientSendError, match="closed"):
        await channel.send(alert())


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no", TO)]),
            PermanentSendError,
            "550",
        ),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(452, "full", TO)]),
            TransientSendError,
            "452",
        ),
        (aiosmtplib.SMTPDataError(451, "later"), TransientSendError, "451"),
        (aiosmtplib.SMTPDataError(421, "closing"), TransientSendError, "421"),
        (aiosmtplib.SMTPDataError(552, "too big"), PermanentSendError, "552"),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), TransientSendError, "535"),
        (aiosmtplib.SMTPSenderRefused(550, "not yours", FROM), TransientSendError, "550"),
        (aiosmtplib.SMTPConnectResponseError(554, "go away"), TransientSendError, "554"),
        (aiosmtplib.SMTPHeloError(501, "bad helo"), TransientSendError, "501"),
        (aiosmtplib.SMTPServerDisconnected("gone"), TransientSendError, None),
        (aiosmtplib.SMTPConnectError("refused"), TransientSendError, None),
        (aiosmtplib.SMTPReadTimeoutError("slow"), TransientSendError, None),
        (ConnectionResetError("reset"), TransientSendError, None),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported"), PermanentSendError, None),
        (ValueError("bad address"), PermanentSendError, None),
        (ssl.SSLCertVerificationError("unknown issuer"), TransientSendError, None),
    ],
)
def test_classification(error: Exception, kind: type[SendError], code: str | None) -> None:
    """Each SMTP failure maps to transient or permanent, with the server's reply code."""
    result = classify_smtp_error(error)
    assert type(result) is kind
    assert result.code == code


async def test_console_email_channel_logs_and_returns_an_id() -> None:
    """The console e-mail channel logs recipient and subject and returns a console id."""
    with capture_logs() as logs:
        async with ConsoleEmailChannel() as channel:
            provider_id = await channel.send(alert(subject="Drill"))

    assert provider_id.startswith("console-") and len(provider_id) == len("console-") + 32
    [entry] = logs
    assert entry["event"] == "email_to_console"
    assert entry["to"] == TO and entry["subject"] == "Drill"


async def test_console_sms_channel_logs_and_returns_an_id() -> None:
    """The console SMS channel logs recipient and body and returns a fresh console id each time."""
    with capture_logs() as logs:
        async with ConsoleSmsChannel() as channel:
            first = await channel.send(OutgoingSms(to="+254700000011", body="Reply 1 if safe"))
            second = await channel.send(OutgoingSms(to="+254700000011", body="Reply 1 if safe"))

    assert first.startswith("console-") and first != second
    assert [entry["event"] for entry in logs] == ["sms_to_console", "sms_to_console"]
    assert logs[0]["to"] == "+254700000011" and logs[0]["body"] == "Reply 1 if safe"
