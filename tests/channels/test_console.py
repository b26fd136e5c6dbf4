"""The console channels: each message printed whole on the console, only a masked event logged."""

from __future__ import annotations

import io
import json

from structlog.testing import capture_logs

from notifier.channels.base import OutgoingEmail, OutgoingSms
from notifier.channels.console import ConsoleEmailChannel, ConsoleSmsChannel
from notifier.logs import mask_personal_data

LINK = "http://127.0.0.1:8080/ack/abcdefghijklmnopqrstuvwxyz234567abcdefghijklm"
EMAIL = OutgoingEmail(
    to="wanjiru.kamau@un.example.org",
    subject="[DRILL] SEVERE: Drill",
    text=f"Go to the assembly point.\n\nOr answer here: {LINK}\n",
    html="<p>Go to the assembly point.</p>",
    reply_to="ack+abcdefghijklmnopqrstuvwxyz234567abcdefghijklm@reply.example.org",
)


async def test_email_is_printed_whole_and_logged_masked() -> None:
    """The console shows the e-mail's text with its working link; the log hides the token."""
    screen = io.StringIO()
    with capture_logs() as logs:
        async with ConsoleEmailChannel(screen) as channel:
            provider_id = await channel.send(EMAIL)
    printed = screen.getvalue()
    assert f"----- e-mail {provider_id}\nTo: {EMAIL.to}\n" in printed
    assert f"Subject: {EMAIL.subject}\n" in printed
    assert f"Or answer here: {LINK}\n" in printed
    [event] = logs
    assert event["event"] == "email_to_console"
    logged = json.dumps(mask_personal_data(None, "info", event))  # as the log writes it
    assert "Or answer here: http://127.0.0.1:8080/ack/***" in logged
    assert "abcdefghijklmnopqrstuvwxyz234567" not in logged
    assert "wanjiru.kamau@" not in logged


async def test_sms_is_printed_whole_and_logged_masked() -> None:
    """The console shows the SMS with its number; the log masks the number."""
    screen = io.StringIO()
    with capture_logs() as logs:
        async with ConsoleSmsChannel(screen) as channel:
            await channel.send(OutgoingSms(to="+254711756237", body="Reply 1 if safe"))
    assert "to +254711756237\nReply 1 if safe\n-----\n" in screen.getvalue()
    assert "+254711756237" not in json.dumps(mask_personal_data(None, "info", logs[0]))


async def test_whatsapp_is_printed_as_such_and_logged_apart() -> None:
    """A WhatsApp message says so on the console and in the log, its number masked."""
    screen = io.StringIO()
    with capture_logs() as logs:
        async with ConsoleSmsChannel(screen) as channel:
            await channel.send(OutgoingSms(to="+254711756237", body="Reply 1", whatsapp=True))
    assert screen.getvalue().startswith("----- WhatsApp console-")
    assert "to +254711756237\nReply 1\n-----\n" in screen.getvalue()
    [event] = logs
    assert event["event"] == "whatsapp_to_console"
    assert "+254711756237" not in json.dumps(mask_personal_data(None, "info", event))
