"""Inbound SMS: signed replies become answers to the right alert, once; carrier keywords."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Role
from notifier.settings import load_settings
from notifier.store import alerts, materialisation, outbox
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON, RECIPIENT, RESPONSE
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import nairobi_people, seed
from tests.web.test_webhooks import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, sign
from tests.web.wake import WakeCounter

PATH = "/webhooks/twilio/sms"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LANGUAGES = ("ar", "zh", "ru", "fr", "es", "en")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def phone(index: int) -> str:
    """The phone number of test person `index`."""
    return f"+2547330000{index:02d}"


@dataclass
class Inbound:
    """The app, its database and clock, and the alerts raised so far."""

    client: httpx.AsyncClient
    database: Database
    clock: HandClock
    wakes: WakeCounter
    sent: int = 0

    async def sms(
        self, sender: str, body: str, *, sid: str | None = None, signature: str | None = None
    ) -> httpx.Response:
        """POST an inbound SMS as Twilio does, signed for the public URL unless told otherwise."""
        self.sent += 1
        form = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": sid or f"SM{self.sent:032d}",
            "From": sender,
            "To": "+15005550006",
            "Body": body,
            "NumMedia": "0",
        }
        if signature is None:
            signature = sign(PUBLIC_URL + PATH, form)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return await self.client.post(PATH, data=form, headers=headers)

    async def raise_alert(
        self, stations: tuple[str, ...] = ("NBO",), *, whatsapp: bool = False
    ) -> tuple[int, str]:
        """Raise an alert to the stations and put its recipients in place (with WhatsApp for
        those who chose it, if `whatsapp`); its id and code."""
        request = AlertRequest(title="Earthquake", message="Leave now.", stations=stations)
        async with self.database.session() as session:
            alert = await alerts.create_alert(session, request, Principal("admin", Role.ADMIN))
        assert alert.id is not None
        finished = False
        while not finished:
            async with self.database.session() as session:
                batch = await materialisation.materialise_batch(
                    session,
                    alert.id,
                    1000,
                    self.clock.now(),
                    sending={Channel.SMS, Channel.EMAIL, Channel.WHATSAPP}
                    if whatsapp
                    else materialisation.BASIC,
                )
            finished = batch.finished
        self.clock.at += timedelta(minutes=1)
        return alert.id, alert.code

    async def answers(self, alert_id: int) -> dict[str, tuple[str | None, datetime | None]]:
        """person_id → (current response, first response time) of the alert's recipients."""
        query = (
            select(PERSON.c.person_id, RECIPIENT.c.response, RECIPIENT.c.first_response_at)
            .join(PERSON, PERSON.c.id == RECIPIENT.c.person)
            .where(RECIPIENT.c.alert_id == alert_id)
        )
        async with self.database.session() as session:
            rows = (await session.execute(query)).all()
        return {row.person_id: (row.response, row.first_response_at) for row in rows}

    async def history(self) -> list[tuple[int, str, str, str, str | None]]:
        """Every response row: alert, person_id, kind, text, provider id."""
        query = (
            select(RESPONSE, PERSON.c.person_id)
            .join(PERSON, PERSON.c.id == RESPONSE.c.person)
            .order_by(RESPONSE.c.id)
        )
        async with self.database.session() as session:
            rows = (await session.execute(query)).all()
        return [(r.alert_id, r.person_id, r.kind, r.text, r.provider_message_id) for r in rows]

    async def confirmations(self) -> list[tuple[str, int, str]]:
        """(person_id, round, body) of every queued confirmation of an answer."""
        query = (
            select(PERSON.c.person_id, DELIVERY.c.round, DELIVERY.c.body, DELIVERY.c.channel)
            .join(PERSON, PERSON.c.id == DELIVERY.c.person)
            .where(DELIVERY.c.purpose == "answer")
            .order_by(DELIVERY.c.id)
        )
        async with self.database.session() as session:
            rows = (await session.execute(query)).all()
        assert all(row.channel == "sms" for row in rows)
        return [(row.person_id, row.round, row.body) for row in rows]


@pytest.fixture
async def inbound(database: Database) -> AsyncIterator[Inbound]:
    """Six people at NBO, one per language, phones +254733000000..05; one person at GVA."""
    rows = [
        f"L{index},Person {index},l{index}@example.org,{phone(index)},NBO,{language},"
        for index, language in enumerate(LANGUAGES)
    ]
    rows.append("G0,Geneva Person,g0@example.org,+41227000000,GVA,fr,")
    await seed(database, rows)
    settings = load_settings(
        None, {"NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN, "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL}
    )
    clock, wakes = HandClock(NOW), WakeCounter()
    app = create_app(database, settings, clock=clock, wake_senders=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Inbound(client, database, clock, wakes)


async def test_forged_or_missing_signature_is_403_and_records_nothing(inbound: Inbound) -> None:
    """Without a signature, or with one made for other fields or with another token: 403."""
    alert_id, _ = await inbound.raise_alert()
    other_token = sign(PUBLIC_URL + PATH, {"Body": "1"}, token="not-the-token")
    for signature in ("", other_token, "c2lnbmF0dXJl"):
        response = await inbound.sms(phone(5), "1", signature=signature)
        assert response.status_code == 403
    assert await inbound.history() == []
    assert (await inbound.answers(alert_id))["L5"] == (None, None)


async def test_reply_records_safe_and_queues_a_confirmation(inbound: Inbound) -> None:
    """A "1" from a recipient: empty TwiML, safe recorded with the SID, confirmation queued."""
    alert_id, _ = await inbound.raise_alert()
    response = await inbound.sms(phone(5), "1", sid="SM" + "a" * 32)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == EMPTY_TWIML
    assert (await inbound.answers(alert_id))["L5"] == ("safe", inbound.clock.at)
    assert await inbound.history() == [(alert_id, "L5", "safe", "1", "SM" + "a" * 32)]
    assert await inbound.confirmations() == [("L5", 1, "Recorded: safe. Thank you.")]
    assert inbound.wakes.channels == [Channel.SMS]


async def test_replayed_webhook_is_recorded_once(inbound: Inbound) -> None:
    """The same MessageSid twice: one response, one confirmation."""
    alert_id, _ = await inbound.raise_alert()
    for _ in range(2):
        assert (await inbound.sms(phone(5), "2", sid="SM" + "b" * 32)).status_code == 200
    assert [row[2] for row in await inbound.history()] == ["help"]
    assert len(await inbound.confirmations()) == 1
    assert (await inbound.answers(alert_id))["L5"][0] == "help"


@pytest.mark.parametrize(
    ("index", "body", "kind", "confirmation"),
    [
        (0, "أنا آمن", "safe", "تم التسجيل: آمن. شكرا لك."),
        (1, "我安全", "safe", "已记录：安全。谢谢。"),
        (2, "ПОМОГИТЕ", "help", "Записано: вам нужна помощь. Служба безопасности оповещена."),
        (3, "Je suis en sécurité, merci", "safe", "Enregistré : en sécurité. Merci."),
        (4, "necesito ayuda", "help", "Registrado: necesita ayuda. Seguridad ha sido avisada."),
        (5, "where do we go?", "other", None),
    ],
)
async def test_replies_in_six_languages(
    inbound: Inbound, index: int, body: str, kind: str, confirmation: str | None
) -> None:
    """Each language's words are understood; the confirmation is in the person's language."""
    alert_id, _ = await inbound.raise_alert()
    assert (await inbound.sms(phone(index), body)).status_code == 200
    assert (await inbound.answers(alert_id))[f"L{index}"][0] == kind
    [(_, _, _, text, _)] = await inbound.history()
    assert text == body
    [(_, _, sent)] = await inbound.confirmations()
    if confirmation is not None:
        assert sent == confirmation
    else:
        assert sent.startswith("Received.")


async def test_unknown_number_gets_nothing(inbound: Inbound) -> None:
    """A number nobody on the rosters has: empty TwiML, nothing recorded or queued."""
    await inbound.raise_alert()
    response = await inbound.sms("+15550001111", "1")
    assert response.text == EMPTY_TWIML
    assert await inbound.history() == []
    assert await inbound.confirmations() == []


async def test_person_not_sent_the_alert_acknowledges_nothing(inbound: Inbound) -> None:
    """A known person who was not sent any open alert is told so, and nothing is recorded."""
    alert_id, _ = await inbound.raise_alert(("NBO",))
    response = await inbound.sms("+41227000000", "1")
    assert "Aucune alerte ouverte" in response.text
    assert await inbound.history() == []
    assert "G0" not in await inbound.answers(alert_id)


async def test_latest_alert_by_default_and_an_older_one_by_its_code(inbound: Inbound) -> None:
    """With two open alerts, "1" answers the newest; "2 CODE" answers the one it names."""
    older, older_code = await inbound.raise_alert()
    newer, _ = await inbound.raise_alert()
    await inbound.sms(phone(5), "1")
    assert (await inbound.answers(newer))["L5"][0] == "safe"
    assert (await inbound.answers(older))["L5"][0] is None
    await inbound.sms(phone(5), f"2 {older_code.lower()}")
    assert (await inbound.answers(older))["L5"][0] == "help"
    assert (await inbound.answers(newer))["L5"][0] == "safe"


async def test_several_open_alerts_make_the_sms_show_the_code(inbound: Inbound) -> None:
    """Only people with more than one open alert are listed for the SMS naming the code."""
    await inbound.raise_alert(("NBO",))
    async with inbound.database.session() as session:
        people = list((await session.execute(select(PERSON.c.id).order_by(PERSON.c.id))).scalars())
        assert await outbox.with_several_open_alerts(session, people) == set()
    await inbound.raise_alert(("NBO", "GVA"))
    async with inbound.database.session() as session:
        several = await outbox.with_several_open_alerts(session, people)
    assert len(several) == len(LANGUAGES)  # the Geneva person has one open alert only


async def test_safe_then_help_shows_help_and_keeps_the_history(inbound: Inbound) -> None:
    """The latest answer counts; the first answer's time stays; both are kept."""
    alert_id, _ = await inbound.raise_alert()
    first_at = inbound.clock.at
    await inbound.sms(phone(5), "1")
    inbound.clock.at += timedelta(minutes=3)
    await inbound.sms(phone(5), "HELP")
    assert (await inbound.answers(alert_id))["L5"] == ("help", first_at)
    assert [row[2] for row in await inbound.history()] == ["safe", "help"]
    assert [row[1] for row in await inbound.confirmations()] == [1, 2]


async def test_stop_and_start(inbound: Inbound) -> None:
    """STOP opts the number out of SMS alerts, START back in; each answered in the language."""
    response = await inbound.sms(phone(3), "Stop")
    assert "Vous ne recevrez plus" in response.text
    async with inbound.database.session() as session:
        query = select(PERSON.c.sms_opted_out).where(PERSON.c.person_id == "L3")
        assert (await session.execute(query)).scalar_one() is True
    response = await inbound.sms(phone(3), "START")
    assert "à nouveau" in response.text
    async with inbound.database.session() as session:
        assert (await session.execute(query)).scalar_one() is False


async def test_help_keyword_without_an_alert_gets_the_information(inbound: Inbound) -> None:
    """HELP outside an alert is the carrier keyword: the service's information, nothing recorded."""
    response = await inbound.sms(phone(5), "help")
    assert "Reply STOP to stop SMS alerts." in response.text
    assert await inbound.history() == []


async def test_a_thousand_replies_within_seconds_are_all_recorded(database: Database) -> None:
    """1,000 people answer at once through the webhook: every answer is recorded once."""
    await seed(database, nairobi_people(1000))
    settings = load_settings(
        None, {"NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN, "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL}
    )
    app = create_app(database, settings, clock=HandClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        inbound = Inbound(client, database, HandClock(NOW), WakeCounter())
        alert_id, _ = await inbound.raise_alert()
        replies = [inbound.sms(f"+25472{i:07d}", "1 " if i % 2 else "2") for i in range(1000)]
        responses = await asyncio.gather(*replies)
    assert all(response.status_code == 200 for response in responses)
    answers = await inbound.answers(alert_id)
    assert sum(1 for kind, _ in answers.values() if kind == "safe") == 500
    assert sum(1 for kind, _ in answers.values() if kind == "help") == 500
    assert len(await inbound.history()) == 1000
