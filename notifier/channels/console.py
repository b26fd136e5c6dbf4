"""Channels that show messages on the console instead of sending them, for demos and development.

Each message is printed whole to standard output, as the recipient's mail client or phone
would show it, acknowledgement link included: the console stands for the mailbox, and the
demo's user needs the link to answer. The log (standard error, collected in production) gets
only a masked event (`email_to_console`, `sms_to_console`), whose tokens and numbers are hidden
by `notifier.logs` like everywhere else. Only the console backends print: with SMTP and Twilio
nothing reaches standard output.
"""

from __future__ import annotations

import sys
import uuid
from types import TracebackType
from typing import Self, TextIO

import structlog

from notifier.channels.base import OutgoingCall, OutgoingEmail, OutgoingSms

log = structlog.get_logger(__name__)


def _console_id() -> str:
    return f"console-{uuid.uuid4().hex}"


def email_text(message: OutgoingEmail, provider_id: str) -> str:
    """The e-mail as a mail client shows its plain-text part, headers first."""
    return (
        f"----- e-mail {provider_id}\n"
        f"To: {message.to}\n"
        f"Reply-To: {message.reply_to}\n"
        f"Subject: {message.subject}\n\n"
        f"{message.text.rstrip()}\n"
        "-----\n"
    )


def sms_text(message: OutgoingSms, provider_id: str) -> str:
    """The SMS (or WhatsApp message) as the phone shows it."""
    kind = "WhatsApp" if message.whatsapp else "SMS"
    return f"----- {kind} {provider_id} to {message.to}\n{message.body.rstrip()}\n-----\n"


class _Console:
    """Where the messages are shown: standard output unless a stream is given."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def show(self, text: str) -> None:
        stream = self._stream or sys.stdout
        stream.write(text)  # one write per message: messages never interleave
        stream.flush()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


class ConsoleEmailChannel(_Console):
    """Prints each e-mail whole, logs it masked (`email_to_console`), accepts it."""

    async def send(self, message: OutgoingEmail) -> str:
        """Show the e-mail; a `console-…` id."""
        provider_id = _console_id()
        self.show(email_text(message, provider_id))
        log.info(
            "email_to_console",
            to=message.to,
            subject=message.subject,
            text=message.text,
            id=provider_id,
        )
        return provider_id


class ConsoleSmsChannel(_Console):
    """Prints each SMS or WhatsApp message, logs its recipient and body (`sms_to_console`,
    `whatsapp_to_console`), and accepts it."""

    async def send(self, message: OutgoingSms) -> str:
        """Show the SMS; a `console-…` id."""
        provider_id = _console_id()
        self.show(sms_text(message, provider_id))
        event = "whatsapp_to_console" if message.whatsapp else "sms_to_console"
        log.info(event, to=message.to, body=message.body, id=provider_id)
        return provider_id


class ConsoleVoiceChannel(_Console):
    """Prints each call it would place, logs it (`call_to_console`), and accepts it; nobody
    answers, so no answer and no status ever come back."""

    async def send(self, message: OutgoingCall) -> str:
        """Show the call; a `console-…` id."""
        provider_id = _console_id()
        self.show(f"----- call {provider_id} to {message.to} (delivery {message.reference})\n")
        log.info("call_to_console", to=message.to, delivery=message.reference, id=provider_id)
        return provider_id
