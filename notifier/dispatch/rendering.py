"""Turn a claimed delivery into the message its channel sends: words, reply address, ack link."""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from notifier import ack_tokens
from notifier.channels.base import OutgoingCall, OutgoingEmail, OutgoingSms
from notifier.costs import MessageCost, Prices
from notifier.dispatch.pricing import Pricer
from notifier.domain import Language
from notifier.messages import AlertContent, RenderedEmail, Templates, render_email, render_sms
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
    """Renders and prices messages for one configuration: templates, public URL, reply domain,
    key, prices."""

    def __init__(self, templates: Templates, settings: Settings) -> None:
        self._templates = templates
        self._secret = settings.security.secret_key.get_secret_value().encode()
        self._token_lifetime = timedelta(days=settings.security.ack_token_days)
        self._public_url = settings.http.public_url.rstrip("/")
        self._from_address = settings.email.from_address
        self._reply_domain = settings.email.reply_domain
        self._max_segments = settings.sms.max_segments
        self._pricer = Pricer(Prices.configured(settings.costs))
        # The words are the same for everyone of one language; only the e-mail's link and
        # reply address differ. Render once per alert and language, then fill the link in.
        self._link_mark = f"ack-link-{secrets.token_hex(8)}"
        self._sms_cache: dict[tuple[int, Language, bool], str] = {}
        self._email_cache: dict[tuple[int, Language], RenderedEmail] = {}

    def ack_token(self, alert: AlertToSend, person: Addressee) -> str:
        """The token that lets this person, and only them, answer this alert."""
        expires = alert.created_at + self._token_lifetime
        return ack_tokens.issue(self._secret, alert.id, person.pk, expires)

    def sms(
        self,
        alert: AlertToSend,
        person: Addressee,
        *,
        show_code: bool = False,
        reference: int | None = None,
    ) -> OutgoingSms:
        """The SMS for a person, within the configured number of segments.

        `reference` (the delivery's id) comes back with the provider's status callbacks.
        """
        assert person.phone is not None, "an SMS delivery is made only for a person with a phone"
        key = (alert.id, person.language, show_code)
        body = self._sms_cache.get(key)
        if body is None:
            body = render_sms(
                self._templates,
                alert.content,
                person.language,
                show_code=show_code,
                max_segments=self._max_segments,
            )
            self._sms_cache = _bounded(self._sms_cache)
            self._sms_cache[key] = body
        return OutgoingSms(person.phone, body, reference)

    def cost(self, message: OutgoingSms | OutgoingEmail | OutgoingCall) -> MessageCost:
        """What sending `message` costs at the configured prices: its segments, its micros."""
        return self._pricer.cost(message)

    def email(self, alert: AlertToSend, person: Addressee) -> OutgoingEmail:
        """The e-mail for a person, whose replies and link acknowledge for them alone."""
        assert person.email is not None, "an e-mail delivery is made only for a person with one"
        token = self.ack_token(alert, person)
        key = (alert.id, person.language)
        rendered = self._email_cache.get(key)
        if rendered is None:
            rendered = render_email(
                self._templates, alert.content, person.language, ack_url=self._link_mark
            )
            self._email_cache = _bounded(self._email_cache)
            self._email_cache[key] = rendered
        link = f"{self._public_url}/ack/{token}"
        return OutgoingEmail(
            to=person.email,
            subject=rendered.subject,
            text=rendered.text.replace(self._link_mark, link),
            html=rendered.html.replace(self._link_mark, link),
            reply_to=f"ack+{token}@{self._reply_domain}",
            headers={"X-Notifier-Alert": f"{alert.id}-{alert.content.code}"},
        )

    def notice_sms(
        self, body: str, person: Addressee, *, reference: int | None = None
    ) -> OutgoingSms:
        """A notice (the confirmation of an answer, a focal point's list) by SMS."""
        assert person.phone is not None, "an SMS notice is queued only for a person with a phone"
        return OutgoingSms(person.phone, body, reference)

    def notice_email(self, subject: str, body: str, person: Addressee) -> OutgoingEmail:
        """A notice by e-mail: plain text, shown as such in the HTML part; replies go nowhere."""
        assert person.email is not None, "an e-mail notice is queued only for a person with one"
        paragraphs = html.escape(body).replace("\n", "<br>\n")
        return OutgoingEmail(
            to=person.email,
            subject=" ".join(subject.split()),
            text=body,
            html=(
                f'<!DOCTYPE html>\n<html lang="{person.language.value}">'
                '<head><meta charset="utf-8"></head>\n'
                f'<body style="font-family:Arial,Helvetica,sans-serif">{paragraphs}</body></html>\n'
            ),
            reply_to=self._from_address,
        )


_CACHE_LIMIT = 512
_V = TypeVar("_V")
_K = TypeVar("_K")


def _bounded(cache: dict[_K, _V]) -> dict[_K, _V]:
    """The cache, emptied when it has grown past its limit (old alerts are not sent again)."""
    return {} if len(cache) >= _CACHE_LIMIT else cache
