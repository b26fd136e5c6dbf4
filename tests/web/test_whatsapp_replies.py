"""WhatsApp replies on the inbound webhook: answers as SMS replies are, confirmed by WhatsApp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from notifier.settings import load_settings
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON, RESPONSE
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import seed
from tests.web.test_inbound_sms import LANGUAGES, NOW, PATH, Inbound, phone
from tests.web.test_webhooks import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, sign
from tests.web.wake import WakeCounter

WHATSAPP_FROM = "+14155238886"


@pytest.fixture
async def inbound(database: Database) -> AsyncIterator[Inbound]:
    """Six people at NBO, phones +254733000000..05; L5 chose WhatsApp, then e-mail."""
    rows = [
        f"L{index},Person {index},l{index}@example.org,{phone(index)},NBO,{language},"
        for index, language in enumerate(LANGUAGES)
    ]
    await seed(database, rows)
    async with database.session() as session:
        await session.execute(
            PERSON.update().where(PERSON.c.person_id == "L5").values(channels="whatsapp,email")
        )
    settings = load_settings(
        None,
        {
            "NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN,
            "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL,
            "NOTIFIER_SMS__WHATSAPP_FROM": WHATSAPP_FROM,
        },
    )
    clock, wakes = HandClock(NOW), WakeCounter()
    app = create_app(database, settings, clock=clock, wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Inbound(client, database, clock, wakes)


async def _answer_channels(database: Database) -> list[tuple[str, str, str]]:
    """(person_id, kind, channel) of every answer recorded."""
    query = (
        select(PERSON.c.person_id, RESPONSE.c.kind, RESPONSE.c.channel)
        .join(PERSON, PERSON.c.id == RESPONSE.c.person)
        .order_by(RESPONSE.c.id)
    )
    async with database.session() as session:
        return [
            (person, kind, channel)
            for person, kind, channel in (await session.execute(query)).all()
        ]


async def _confirmation_channels(database: Database) -> list[tuple[str, str]]:
    query = (
        select(PERSON.c.person_id, DELIVERY.c.channel)
        .join(PERSON, PERSON.c.id == DELIVERY.c.person)
        .where(DELIVERY.c.purpose == "answer")
        .order_by(DELIVERY.c.id)
    )
    async with database.session() as session:
        return [(person, channel) for person, channel in (await session.execute(query)).all()]


async def test_a_whatsapp_1_is_recorded_safe_and_confirmed_by_whatsapp(inbound: Inbound) -> None:
    alert_id, _ = await inbound.raise_alert(whatsapp=True)
    response = await inbound.sms(f"whatsapp:{phone(5)}", "1", sid="SM" + "c" * 32)
    assert response.status_code == 200
    assert (await inbound.answers(alert_id))["L5"] == ("safe", inbound.clock.at)
    assert await _answer_channels(inbound.database) == [("L5", "safe", "whatsapp")]
    assert await _confirmation_channels(inbound.database) == [("L5", "whatsapp")]
    # Someone else answering by SMS is confirmed by SMS.
    await inbound.sms(phone(4), "2")
    assert await _confirmation_channels(inbound.database) == [("L5", "whatsapp"), ("L4", "sms")]


async def test_a_forged_whatsapp_reply_is_refused(inbound: Inbound) -> None:
    alert_id, _ = await inbound.raise_alert(whatsapp=True)
    forged = sign(PUBLIC_URL + PATH, {"Body": "1"}, token="not-the-token")
    response = await inbound.sms(f"whatsapp:{phone(5)}", "1", signature=forged)
    assert response.status_code == 403
    assert (await inbound.answers(alert_id))["L5"] == (None, None)


async def test_stop_by_whatsapp_is_no_carrier_keyword(inbound: Inbound) -> None:
    """STOP is the SMS carriers' word: by WhatsApp it switches no SMS off."""
    await inbound.raise_alert(whatsapp=True)
    await inbound.sms(f"whatsapp:{phone(5)}", "STOP")
    async with inbound.database.session() as session:
        stopped = await session.scalar(
            select(PERSON.c.sms_opted_out).where(PERSON.c.person_id == "L5")
        )
    assert stopped is False
    assert await _answer_channels(inbound.database) == [("L5", "other", "whatsapp")]


async def test_a_whatsapp_message_undelivered_goes_by_sms(inbound: Inbound) -> None:
    alert_id, _ = await inbound.raise_alert(whatsapp=True)
    async with inbound.database.session() as session:
        delivery_id = await session.scalar(
            select(DELIVERY.c.id)
            .join(PERSON, PERSON.c.id == DELIVERY.c.person)
            .where(PERSON.c.person_id == "L5", DELIVERY.c.channel == "whatsapp")
        )
        assert delivery_id is not None
        await session.execute(
            DELIVERY.update()
            .where(DELIVERY.c.id == delivery_id)
            .values(status="sent", provider_id="SM" + "d" * 32)
        )
    form = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + "d" * 32,
        "MessageStatus": "undelivered",
        "ErrorCode": "63003",
    }
    url = f"{PUBLIC_URL}/webhooks/twilio/status?delivery={delivery_id}"
    response = await inbound.client.post(
        f"/webhooks/twilio/status?delivery={delivery_id}",
        data=form,
        headers={"X-Twilio-Signature": sign(url, form)},
    )
    assert response.status_code == 204
    async with inbound.database.session() as session:
        rows = await session.execute(
            select(DELIVERY.c.channel, DELIVERY.c.status)
            .join(PERSON, PERSON.c.id == DELIVERY.c.person)
            .where(PERSON.c.person_id == "L5", DELIVERY.c.alert_id == alert_id)
        )
        by_channel = dict(rows.all())
    assert by_channel == {"whatsapp": "failed", "email": "queued", "sms": "queued"}


async def test_a_failure_told_before_the_message_is_recorded_sent_is_not_lost(
    inbound: Inbound,
) -> None:
    """Twilio may call back before the dispatcher has recorded the message as accepted: the
    callback waits for that, then fails the message over as usual."""
    alert_id, _ = await inbound.raise_alert(whatsapp=True)
    sid = "SM" + "e" * 32
    async with inbound.database.session() as session:
        delivery_id = await session.scalar(
            select(DELIVERY.c.id)
            .join(PERSON, PERSON.c.id == DELIVERY.c.person)
            .where(PERSON.c.person_id == "L5", DELIVERY.c.channel == "whatsapp")
        )
        assert delivery_id is not None
        await session.execute(
            DELIVERY.update().where(DELIVERY.c.id == delivery_id).values(status="sending")
        )
    form = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": "undelivered"}
    url = f"{PUBLIC_URL}/webhooks/twilio/status?delivery={delivery_id}"
    callback = asyncio.create_task(
        inbound.client.post(
            f"/webhooks/twilio/status?delivery={delivery_id}",
            data=form,
            headers={"X-Twilio-Signature": sign(url, form)},
        )
    )
    await asyncio.sleep(0.3)
    assert not callback.done()
    async with inbound.database.session() as session:  # the acceptance, recorded late
        await session.execute(
            DELIVERY.update()
            .where(DELIVERY.c.id == delivery_id)
            .values(status="sent", provider_id=sid)
        )
    assert (await callback).status_code == 204
    async with inbound.database.session() as session:
        rows = await session.execute(
            select(DELIVERY.c.channel, DELIVERY.c.status)
            .join(PERSON, PERSON.c.id == DELIVERY.c.person)
            .where(PERSON.c.person_id == "L5", DELIVERY.c.alert_id == alert_id)
        )
        assert dict(rows.all()) == {"whatsapp": "failed", "email": "queued", "sms": "queued"}
