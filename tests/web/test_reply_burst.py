"""A burst of SMS replies through the webhook at once: each recorded once, confirmed once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from notifier.settings import load_settings
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON, RECIPIENT, RESPONSE
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import nairobi_people, seed
from tests.sms_replies import reply_form
from tests.web.test_inbound_sms import NOW, PATH, Inbound
from tests.web.test_webhooks import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, sign
from tests.web.wake import WakeCounter

PEOPLE = 5000
REPLAYED = 500


@pytest.fixture
async def inbound(database: Database) -> AsyncIterator[Inbound]:
    """The app over 5,000 people at NBO, each with a phone of their own."""
    await seed(database, nairobi_people(PEOPLE))
    settings = load_settings(
        None, {"NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN, "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL}
    )
    clock, wakes = HandClock(NOW), WakeCounter()
    app = create_app(database, settings, clock=clock, wake_senders=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Inbound(client, database, clock, wakes)


async def test_five_thousand_replies_at_once_are_each_recorded_once(inbound: Inbound) -> None:
    """Every reply posted at once is answered 200, recorded once with its confirmation queued
    once; the same MessageSids posted again record nothing more."""
    alert_id, _ = await inbound.raise_alert()
    async with inbound.database.session(read_only=True) as session:
        phones = list(
            (await session.execute(select(PERSON.c.phone).order_by(PERSON.c.id))).scalars()
        )
    forms = [reply_form(ACCOUNT_SID, phone, index) for index, phone in enumerate(phones)]

    async def post(form: dict[str, str]) -> int:
        signature = sign(PUBLIC_URL + PATH, form)
        response = await inbound.client.post(
            PATH, data=form, headers={"X-Twilio-Signature": signature}
        )
        return response.status_code

    statuses = await asyncio.gather(*(post(form) for form in forms))
    assert Counter(statuses) == {200: PEOPLE}
    replayed = await asyncio.gather(*(post(form) for form in forms[:REPLAYED]))
    assert Counter(replayed) == {200: REPLAYED}

    async with inbound.database.session(read_only=True) as session:
        answered = await session.execute(
            select(func.count(), func.count(func.distinct(RESPONSE.c.person))).where(
                RESPONSE.c.alert_id == alert_id
            )
        )
        assert tuple(answered.one()) == (PEOPLE, PEOPLE)
        kinds = await session.execute(
            select(RECIPIENT.c.response, func.count())
            .where(RECIPIENT.c.alert_id == alert_id)
            .group_by(RECIPIENT.c.response)
        )
        assert dict(kinds.all()) == {"help": PEOPLE // 10, "safe": PEOPLE - PEOPLE // 10}
        confirmations = await session.execute(
            select(func.count(), func.count(func.distinct(DELIVERY.c.person))).where(
                DELIVERY.c.alert_id == alert_id, DELIVERY.c.purpose == "answer"
            )
        )
        assert tuple(confirmations.one()) == (PEOPLE, PEOPLE)
    assert inbound.wakes.calls >= 1
