"""What a channel is: something that hands one rendered message to a provider and says its id.

A channel raises `TransientSendError` or `PermanentSendError` (see `notifier.errors`) and
nothing else for a message it could not send; the dispatcher decides what happens next.
Channels are async context managers: connections are opened on entry and closed on exit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self, TypeVar


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One e-mail to one person, already rendered in their language."""

    to: str
    subject: str
    text: str
    html: str
    reply_to: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """One SMS (or WhatsApp message) to one E.164 number, rendered in the person's language."""

    to: str
    body: str
    reference: int | None = None
    """Our number for the message (its delivery), which the provider's status callbacks
    give back: they then find it by primary key, with no index on the provider's ids."""
    whatsapp: bool = False
    """Sent by WhatsApp to the same number, through the same Messages API."""


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """One call to one E.164 number: what it says is fetched by the provider from our
    webhook when the call is answered, for the delivery `reference`."""

    to: str
    reference: int


MessageT_contra = TypeVar("MessageT_contra", contravariant=True)


class Channel(Protocol[MessageT_contra]):
    """Hands messages to a provider; returns the provider's id for each one it accepts."""

    async def send(self, message: MessageT_contra) -> str:
        """Send one message; the provider's id (Message-ID, Message SID)."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


EmailChannel = Channel[OutgoingEmail]
SmsChannel = Channel[OutgoingSms]
VoiceChannel = Channel[OutgoingCall]
