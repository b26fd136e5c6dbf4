"""The voice webhooks, signed as Twilio signs them: what a call says, the key pressed, how the
call ended; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lxml import etree
from sqlalchemy import select, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Role
from notifier.settings import load_settings
from notifier.store import alerts, materialisation
from notifier.store.engine import Database
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT, RESPONSE
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import seed
from tests.web.test_webhooks import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, sign
from tests.web.wake import WakeCounter

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CALLING = frozenset({Channel.SMS, Channel.EMAIL, Channel.VOICE})
PEOPLE = [
    "E0,Person E,e0@example.org,+254733000010,NBO,en,",
    "F0,Personne F,f0@example.org,+254733000011,NBO,fr,",
    "A0,Person A,a0@example.org,+254733000012,NBO,ar,",
]


@dataclass
class Calls:
    """The app, its database and clock, and the alert raised with calls."""

    client: httpx.AsyncClient
    database: Database
    clock: HandClock
    alert_id: int = 0

    async def post(
        self, path: str, delivery: int, sid: str, forged: bool = False, **fields: str
    ) -> httpx.Response:
        """POST a call webhook for `delivery`, signed for the public URL (unless `forged`)."""
        form = {"AccountSid": ACCOUNT_SID, "CallSid": sid, **fields}
        url = f"{path}?delivery={delivery}"
        signature = sign(PUBLIC_URL + url, form, token="not-the-token" if forged else AUTH_TOKEN)
        return await self.client.post(url, data=form, headers={"X-Twilio-Signature": signature})

    async def delivery_of(self, person_id: str) -> int:
        """The id of the person's call."""
        async with self.database.session() as session:
            found = await session.scalar(
                select(DELIVERY.c.id)
                .join(PERSON, PERSON.c.id == DELIVERY.c.person)
                .where(PERSON.c.person_id == person_id, DELIVERY.c.channel == "voice")
            )
        assert found is not None
        return int(found)

    async def placed(self, delivery: int, sid: str, attempts: int = 1) -> None:
        """Mark the call as placed (sent, with its Call SID), as the dispatcher would."""
        async with self.database.session() as session:
            await session.execute(
                update(DELIVERY)
                .where(DELIVERY.c.id == delivery)
                .values(status="sent", provider_id=sid, attempts=attempts, cost_micros=0)
            )

    async def state(self, delivery: int) -> tuple[str, datetime | None, int | None]:
        async with self.database.session() as session:
            row = (
                await session.execute(
                    select(
                        DELIVERY.c.status, DELIVERY.c.next_attempt_at, DELIVERY.c.cost_micros
                    ).where(DELIVERY.c.id == delivery)
                )
            ).one()
        return row[0], row[1], row[2]


@pytest.fixture
async def calls(database: Database) -> AsyncIterator[Calls]:
    await seed(database, PEOPLE)
    settings = load_settings(
        None,
        {
            "NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN,
            "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL,
            "NOTIFIER_VOICE__FROM_NUMBER": "+15005550006",
            "NOTIFIER_VOICE__MAX_ATTEMPTS": "2",
            "NOTIFIER_VOICE__RETRY_SECONDS": "90",
            "NOTIFIER_COSTS__VOICE_MINUTE_PRICE": "0.013",
        },
    )
    clock = HandClock(NOW)
    app = create_app(database, settings, clock=clock, wake_dispatcher=WakeCounter())
    request = AlertRequest(
        "Earthquake", "Leave the building.", stations=("NBO",), channels=(Channel.VOICE,)
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("admin", Role.ADMIN))
        assert alert.id is not None
        batch = await materialisation.materialise_batch(
            session, alert.id, 100, NOW, sending=CALLING
        )
        assert batch.finished
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Calls(client, database, clock, alert.id)


def _says(twiml: str) -> list[tuple[str, str | None, bool]]:
    """Each <Say>: its text, its voice, and whether it is inside a <Gather>."""
    root = etree.fromstring(twiml.encode())
    return [
        (say.text or "", say.get("voice"), getattr(say.getparent(), "tag", None) == "Gather")
        for say in root.iter("Say")
    ]


async def test_an_answered_call_reads_the_alert_twice_then_asks_in_the_persons_language(
    calls: Calls,
) -> None:
    delivery = await calls.delivery_of("F0")
    response = await calls.post(
        "/webhooks/twilio/voice", delivery, "CA" + "1" * 32, AnsweredBy="human"
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    says = _says(response.text)
    alert = "GRAVE : Earthquake. Leave the building."
    assert [text for text, _, _ in says[:3]] == [alert, "Je répète.", alert]
    assert {voice for _, voice, _ in says} == {"Polly.Lea"}
    question = "Appuyez sur 1 si vous êtes en sécurité. Appuyez sur 2 si vous avez besoin d'aide."
    assert [text for text, _, gathered in says if gathered] == [question, question]
    gather = etree.fromstring(response.text.encode()).find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{PUBLIC_URL}/webhooks/twilio/voice/key?delivery={delivery}"
    assert gather.get("numDigits") == "1"


async def test_an_answering_machine_gets_the_alert_without_the_question(calls: Calls) -> None:
    delivery = await calls.delivery_of("A0")
    response = await calls.post(
        "/webhooks/twilio/voice", delivery, "CA" + "2" * 32, AnsweredBy="machine_start"
    )
    says = _says(response.text)
    assert not any(gathered for _, _, gathered in says)
    assert {voice for _, voice, _ in says} == {"Polly.Zeina"}
    assert says[0][0] == says[2][0] and "Earthquake" in says[0][0]


async def test_a_key_is_the_persons_answer_recorded_once_and_confirmed(calls: Calls) -> None:
    delivery = await calls.delivery_of("E0")
    sid = "CA" + "3" * 32
    for _ in range(2):  # Twilio posting the same key twice records it once
        response = await calls.post("/webhooks/twilio/voice/key", delivery, sid, Digits="2")
        assert response.status_code == 200
        assert _says(response.text)[0][0] == "Recorded: you need help. Security has been told."
    async with calls.database.session() as session:
        answers = (
            await session.execute(
                select(RESPONSE.c.kind, RESPONSE.c.channel, RESPONSE.c.provider_message_id)
            )
        ).all()
        current = await session.scalar(
            select(RECIPIENT.c.response)
            .join(PERSON, PERSON.c.id == RECIPIENT.c.person)
            .where(PERSON.c.person_id == "E0")
        )
    assert answers == [("help", "voice", sid)]
    assert current == "help"


async def test_another_key_asks_again_and_records_nothing(calls: Calls) -> None:
    delivery = await calls.delivery_of("E0")
    response = await calls.post("/webhooks/twilio/voice/key", delivery, "CA" + "4" * 32, Digits="9")
    says = _says(response.text)
    assert says[0] == ("Press 1 if you are safe. Press 2 if you need help.", "Polly.Joanna", True)
    async with calls.database.session() as session:
        assert (await session.execute(select(RESPONSE))).first() is None


async def test_a_forged_key_is_refused(calls: Calls) -> None:
    delivery = await calls.delivery_of("E0")
    response = await calls.post(
        "/webhooks/twilio/voice/key", delivery, "CA" + "5" * 32, forged=True, Digits="1"
    )
    assert response.status_code == 403
    async with calls.database.session() as session:
        assert (await session.execute(select(RESPONSE))).first() is None


async def test_a_busy_call_is_placed_again_later_up_to_the_limit(calls: Calls) -> None:
    delivery = await calls.delivery_of("E0")
    await calls.placed(delivery, "CA" + "6" * 32, attempts=1)
    response = await calls.post(
        "/webhooks/twilio/voice/status",
        delivery,
        "CA" + "6" * 32,
        CallStatus="busy",
        CallDuration="0",
    )
    assert response.status_code == 204
    assert (await calls.state(delivery))[:2] == ("queued", NOW + timedelta(seconds=90))
    await calls.placed(delivery, "CA" + "7" * 32, attempts=2)
    await calls.post(
        "/webhooks/twilio/voice/status", delivery, "CA" + "7" * 32, CallStatus="no-answer"
    )
    assert (await calls.state(delivery))[0] == "failed"


async def test_a_completed_call_is_delivered_and_priced_by_the_minute(calls: Calls) -> None:
    delivery = await calls.delivery_of("F0")
    await calls.placed(delivery, "CA" + "8" * 32)
    await calls.post(
        "/webhooks/twilio/voice/status",
        delivery,
        "CA" + "9" * 32,  # not the call placed: nothing moves
        CallStatus="completed",
        CallDuration="61",
    )
    assert (await calls.state(delivery))[0] == "sent"
    await calls.post(
        "/webhooks/twilio/voice/status",
        delivery,
        "CA" + "8" * 32,
        CallStatus="completed",
        CallDuration="61",
    )
    status, _, cost = await calls.state(delivery)
    assert (status, cost) == ("delivered", 2 * 13_000)


async def test_a_call_answered_once_the_alert_is_closed_says_so(calls: Calls) -> None:
    async with calls.database.session() as session:
        await session.execute(update(ALERT).values(status="closed"))
    delivery = await calls.delivery_of("E0")
    response = await calls.post(
        "/webhooks/twilio/voice", delivery, "CA" + "a" * 32, AnsweredBy="human"
    )
    says = _says(response.text)
    assert says[0][0].startswith("This alert is closed")
    assert not any(gathered for _, _, gathered in says)
