"""The channels the configuration asks for: SMTP or console e-mail, Twilio or console SMS."""

from __future__ import annotations

from notifier.channels.base import EmailChannel, SmsChannel
from notifier.channels.console import ConsoleEmailChannel, ConsoleSmsChannel
from notifier.channels.email import SmtpEmailChannel
from notifier.channels.sms import TwilioSmsChannel
from notifier.settings import Settings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


def email_channel(settings: Settings) -> EmailChannel:
    """The e-mail channel of `email.backend`."""
    if settings.email.backend == "console":
        return ConsoleEmailChannel()
    return SmtpEmailChannel(settings.email)


def sms_channel(settings: Settings) -> SmsChannel:
    """The SMS channel of `sms.backend`; Twilio calls back at the public URL."""
    if settings.sms.backend == "console":
        return ConsoleSmsChannel()
    callback = settings.http.public_url.rstrip("/") + STATUS_CALLBACK_PATH
    return TwilioSmsChannel(settings.sms, status_callback_url=callback)
