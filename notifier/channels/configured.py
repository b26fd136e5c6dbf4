"""The channels the configuration asks for: SMTP or console e-mail, Twilio or console SMS."""

from __future__ import annotations

from notifier.channels.base import EmailChannel, SmsChannel, VoiceChannel
from notifier.channels.console import ConsoleEmailChannel, ConsoleSmsChannel, ConsoleVoiceChannel
from notifier.channels.email import SmtpEmailChannel
from notifier.channels.sms import TwilioSmsChannel
from notifier.channels.voice import TwilioVoiceChannel
from notifier.domain import Channel
from notifier.settings import Settings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


def channels_sent(settings: Settings) -> frozenset[Channel]:
    """The channels the configuration sends on: SMS and e-mail, WhatsApp with a WhatsApp
    sender (`sms.whatsapp_from`), voice with a caller number (`voice.from_number`)."""
    return frozenset(
        {Channel.SMS, Channel.EMAIL}
        | ({Channel.WHATSAPP} if settings.sms.whatsapp_from else set())
        | ({Channel.VOICE} if settings.voice.from_number else set())
    )


def email_channel(settings: Settings) -> EmailChannel:
    """The e-mail channel of `email.backend`."""
    if settings.email.backend == "console":
        return ConsoleEmailChannel()
    return SmtpEmailChannel(settings.email)


def voice_channel(settings: Settings) -> VoiceChannel | None:
    """The voice channel, when `voice.from_number` is set: Twilio's, or the console's when
    SMS go to the console too."""
    if not settings.voice.from_number:
        return None
    if settings.sms.backend == "console":
        return ConsoleVoiceChannel()
    return TwilioVoiceChannel(settings.sms, settings.voice, settings.http.public_url)


def sms_channel(settings: Settings) -> SmsChannel:
    """The SMS channel of `sms.backend`; Twilio calls back at the public URL."""
    if settings.sms.backend == "console":
        return ConsoleSmsChannel()
    callback = settings.http.public_url.rstrip("/") + STATUS_CALLBACK_PATH
    return TwilioSmsChannel(settings.sms, status_callback_url=callback)
