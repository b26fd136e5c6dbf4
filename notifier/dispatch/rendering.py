"""Turn a claimed delivery into the message its channel sends: words, reply address, ack link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier import ack_tokens
from notifier.channels.base import OutgoingEmail, OutgoingSms
from notifier.domain import Language
from notifier.messages import AlertContent, Templates, render_email, render_sms
from notifier.settings import Settings


@dataclass(frozen=True, slots=True)
class AlertToSend:
    """What the renderer needs of an alert."""

    id: int
    content: AlertContent
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Addressee:
    """What the renderer needs of a person."""

    pk: int
    phone: str | None
    email: str | None
    language: Language


class MessageFactory:
    """Renders messages for one configuration: templates, public URL, reply domain, key."""

    def __init__(self, templates: Templates, settings: Settings) -> None:
        self._templates = templates
        self._secret = settings.security.secret_key.get_secret_value().encode()
        self._token_lifetime = timedelta(days=settings.security.ack_token_days)
        self._public_url = settings.http.public_url.rstrip("/")
        self._reply_domain = settings.email.reply_domain
        self._max_segments = settings.sms.max_segments

    def ack_token(self, alert: AlertToSend, person: Addressee) -> str:
        """The token that lets this person, and only them, answer this alert."""
        expires = alert.created_at + self._token_lifetime
        return ack_tokens.issue(self._secret, alert.id, person.pk, expires)

    def sms(self, alert: AlertToSend, person: Addressee, *, show_code: bool = False) -> OutgoingSms:
        """The SMS for a person, within the configured number of segments."""
        assert person.phone is not None, "an SMS delivery is made only for a person with a phone"
        body = render_sms(
            self._templates,
            alert.content,
            person.language,
            show_code=show_code,
            max_segments=self._max_segments,
        )
        return OutgoingSms(to=person.phone, body=body)

    def email(self, alert: AlertToSend, person: Addressee) -> OutgoingEmail:
        """The e-mail for a person, whose replies and link acknowledge for them alone."""
        assert person.email is not None, "an e-mail delivery is made only for a person with one"
        token = self.ack_token(alert, person)
        rendered = render_email(
            self._templates,
            alert.content,
            person.language,
            ack_url=f"{self._public_url}/ack/{token}",
        )
        return OutgoingEmail(
            to=person.email,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            reply_to=f"ack+{token}@{self._reply_domain}",
            headers={"X-Notifier-Alert": f"{alert.id}-{alert.content.code}"},
        )
