"""Channels that write messages to the log instead of sending them, for demos and development."""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Self

import structlog

from notifier.channels.base import OutgoingEmail, OutgoingSms

log = structlog.get_logger(__name__)


def _console_id() -> str:
    return f"console-{uuid.uuid4().hex}"


class ConsoleEmailChannel:
    """Logs each e-mail's recipient and subject (`email_to_console`) and accepts it."""

    async def send(self, message: OutgoingEmail) -> str:
        """Log the e-mail; a `console-…` id."""
        provider_id = _console_id()
        log.info("email_to_console", to=message.to, subject=message.subject, id=provider_id)
        return provider_id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


class ConsoleSmsChannel:
    """Logs each SMS's recipient and body (`sms_to_console`) and accepts it."""

    async def send(self, message: OutgoingSms) -> str:
        """Log the SMS; a `console-…` id."""
        provider_id = _console_id()
        log.info("sms_to_console", to=message.to, body=message.body, id=provider_id)
        return provider_id

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None
