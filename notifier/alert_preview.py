"""An alert's preview before it is sent: who gets what, in which words, at what cost, how fast.

The words are rendered by the dispatcher's own functions (`messages.render_sms` within
`sms.max_segments`, `messages.render_email`), the SMS priced per destination country by its
`Pricer`, and the time is each channel's messages at its configured rate (`rate_per_second`,
the token bucket every message waits on; the concurrency only bounds sends in flight). Only
`preview_alert` reads the store; the rest is pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.channels.configured import channels_sent
from notifier.costs import MessageCosts, Prices, amount, shown_amount
from notifier.dispatch.pricing import Pricer
from notifier.domain import Language
from notifier.messages import AlertContent, Templates, render_email, render_sms
from notifier.settings import Settings
from notifier.sms_length import Encoding, sms_length
from notifier.store import alert_preview as queries
from notifier.store import alerts
from notifier.store.alert_preview import AudienceGroup


@dataclass(frozen=True, slots=True)
class LanguagePreview:
    """What the people of one language receive: the SMS with its length, the e-mail's subject."""

    language: Language
    people: int
    sms_text: str
    encoding: Encoding
    segments: int
    email_subject: str


@dataclass(frozen=True, slots=True)
class Seconds:
    """The time to send every message of each channel at its rate, and to reach everyone."""

    sms: float
    email: float

    @property
    def total(self) -> float:
        """The channels send side by side: the slower one decides."""
        return max(self.sms, self.email)


@dataclass(frozen=True, slots=True)
class Preview:
    """An alert as it would go out if raised now."""

    recipients: int
    sms: int
    email: int
    unreachable: int
    languages: tuple[LanguagePreview, ...]
    cost: MessageCosts
    seconds: Seconds
    whatsapp: int = 0
    voice: int = 0


def language_preview(
    templates: Templates,
    request: AlertRequest,
    language: Language,
    people: int,
    *,
    max_segments: int,
) -> LanguagePreview:
    """The SMS and e-mail subject the people of `language` receive, as the dispatcher renders them.

    The SMS is the one of a person with no other open alert (with several, it also names the
    alert's short code, which is drawn only when the alert is raised).
    """
    content = AlertContent(
        code="",
        kind=request.kind,
        severity=request.severity,
        title=request.title,
        message=request.message,
        messages=request.texts,
    )
    text = render_sms(templates, content, language, show_code=False, max_segments=max_segments)
    length = sms_length(text)
    subject = render_email(templates, content, language, ack_url="").subject
    return LanguagePreview(language, people, text, length.encoding, length.segments, subject)


def seconds_to_send(sms: int, email: int, sms_rate: float, email_rate: float) -> Seconds:
    """Each channel's messages at its rate per second."""
    return Seconds(sms=sms / sms_rate, email=email / email_rate)


def priced_alike(prices: Prices, prefix: str) -> bool:
    """Whether every number starting with `prefix` has one price per segment.

    False only for a calling code shared by countries priced apart (+1 with a price for
    Canada alone): those numbers are priced one by one, as the dispatcher prices them.
    """
    if not prefix.startswith("+"):
        return True  # not E.164: the default price, as `Pricer` gives it
    for length in (1, 2, 3):
        digits = prefix[1 : 1 + length]
        regions = (
            phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits)) if digits.isdigit() else None
        )
        if regions:
            return len({prices.segment_price(region) for region in regions}) == 1
    return True


def people_by_language(groups: Sequence[AudienceGroup]) -> dict[Language, int]:
    """The people reached per language present, in the order of the language codes."""
    people: dict[Language, int] = defaultdict(int)
    for group in groups:
        people[group.language] += group.people
    return {language: people[language] for language in sorted(people) if people[language]}


def sms_micros(
    pricer: Pricer, groups: Sequence[AudienceGroup], segments: Mapping[Language, int]
) -> int:
    """The micros of the SMS to prefixes priced alike: count, times segments, times price."""
    return sum(
        group.sms * segments[group.language] * pricer.segment_price(group.prefix)
        for group in groups
        if group.prefix is not None
    )


def preview_json(preview: Preview) -> dict[str, Any]:
    """The preview as the API answers it (amounts as JSON numbers, seconds to the tenth)."""
    return {
        "recipients": preview.recipients,
        "channels": {
            "sms": preview.sms,
            "email": preview.email,
            "whatsapp": preview.whatsapp,
            "voice": preview.voice,
        },
        "unreachable": preview.unreachable,
        "languages": [
            {
                "language": row.language.value,
                "people": row.people,
                "sms": {"text": row.sms_text, "encoding": row.encoding, "segments": row.segments},
                "email_subject": row.email_subject,
            }
            for row in preview.languages
        ],
        "cost": {
            "currency": preview.cost.currency,
            "sms": float(amount(preview.cost.sms_micros)),
            "email": float(amount(preview.cost.email_micros)),
            "whatsapp": float(amount(preview.cost.whatsapp_micros)),
            "total": float(amount(preview.cost.total_micros)),
        },
        "sms_segments": preview.cost.sms_segments,
        "seconds": {
            "sms": round(preview.seconds.sms, 1),
            "email": round(preview.seconds.email, 1),
            "total": round(preview.seconds.total, 1),
        },
    }


async def preview_alert(
    session: AsyncSession,
    request: AlertRequest,
    principal: Principal,
    settings: Settings,
    templates: Templates,
) -> Preview:
    """Check the request as raising would (same errors), then preview it; writes nothing."""
    await alerts.check_request(session, request, principal)
    groups = await queries.audience_groups(session, request, sending=channels_sent(settings))
    languages = tuple(
        language_preview(
            templates, request, language, people, max_segments=settings.sms.max_segments
        )
        for language, people in people_by_language(groups).items()
    )
    segments = {row.language: row.segments for row in languages}
    prices = Prices.configured(settings.costs)
    pricer = Pricer(prices)
    texted = [group for group in groups if group.prefix is not None]
    alike = [group for group in texted if priced_alike(prices, group.prefix or "")]
    apart = [group.prefix or "" for group in texted if not priced_alike(prices, group.prefix or "")]
    micros = sms_micros(pricer, alike, segments)
    sending = channels_sent(settings)
    async for language, phone in queries.sms_numbers(session, request, apart, sending=sending):
        micros += segments[language] * pricer.segment_price(phone)
    sms, email = sum(group.sms for group in groups), sum(group.email for group in groups)
    messages = sum(group.whatsapp for group in groups)
    sms_segments = sum(group.sms * segments[group.language] for group in texted)
    return Preview(
        recipients=sum(group.people for group in groups),
        sms=sms,
        email=email,
        unreachable=sum(group.unreachable for group in groups),
        languages=languages,
        cost=MessageCosts(
            currency=prices.currency,
            sms_segments=sms_segments,
            sms_micros=micros,
            email_micros=email * prices.email,
            whatsapp_micros=messages * prices.whatsapp,
        ),
        seconds=seconds_to_send(
            sms, email, settings.sms.rate_per_second, settings.email.rate_per_second
        ),
        whatsapp=messages,
        voice=sum(group.voice for group in groups),
    )


def preview_lines(preview: Preview, sms_rate: float, email_rate: float) -> Iterator[str]:
    """The preview as text for people: totals, then each language's SMS and subject."""
    cost = preview.cost
    yield (
        f"preview (nothing is sent): {preview.recipients} recipients, "
        f"{preview.unreachable} reachable by neither channel"
    )
    yield (
        f"  sms    {preview.sms} messages, {cost.sms_segments} segments, "
        f"{cost.currency} {shown_amount(cost.sms_micros)}, {preview.seconds.sms:.1f} s "
        f"at {sms_rate:g}/s"
    )
    yield (
        f"  email  {preview.email} messages, {cost.currency} {shown_amount(cost.email_micros)}, "
        f"{preview.seconds.email:.1f} s at {email_rate:g}/s"
    )
    if preview.whatsapp:
        yield (
            f"  whatsapp {preview.whatsapp} messages, "
            f"{cost.currency} {shown_amount(cost.whatsapp_micros)}"
        )
    if preview.voice:
        yield f"  voice  {preview.voice} calls"
    yield (
        f"  total  {cost.currency} {shown_amount(cost.total_micros)}, everyone reached in "
        f"about {preview.seconds.total:.1f} s"
    )
    for row in preview.languages:
        yield ""
        yield (
            f"{row.language.value}: {row.people} people; SMS in {row.encoding}, "
            f"{row.segments} segment{'s' if row.segments != 1 else ''}"
        )
        yield f"  subject: {row.email_subject}"
        yield from (f"  | {line}" for line in row.sms_text.splitlines())
