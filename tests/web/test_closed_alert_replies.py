"""A closed alert takes no answers: an SMS reply is told so in its language, the page says so."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from notifier import ack_tokens
from notifier.access import Principal
from notifier.domain import Language, Role
from notifier.messages import SHIPPED_TEMPLATES, load_templates
from notifier.settings import load_settings
from notifier.store import alerts
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import seed
from tests.web.test_inbound_sms import LANGUAGES, NOW, Inbound, phone
from tests.web.test_webhooks import AUTH_TOKEN, PUBLIC_URL
from tests.web.wake import WakeCounter

SECRET = "closed-alert-secret-key-0123456789"
TEMPLATES = load_templates(SHIPPED_TEMPLATES)
OFFICER = Principal("nbo", Role.ADMIN)


@pytest.fixture
async def inbound(database: Database) -> AsyncIterator[Inbound]:
    """Six people at NBO, one per language, phones +254733000000..05; the app on a hand clock."""
    rows = [
        f"L{index},Person {index},l{index}@example.org,{phone(index)},NBO,{language},"
        for index, language in enumerate(LANGUAGES)
    ]
    await seed(database, rows)
    settings = load_settings(
        None,
        {
            "NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN,
            "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL,
            "NOTIFIER_SECURITY__SECRET_KEY": SECRET,
        },
    )
    clock, wakes = HandClock(NOW), WakeCounter()
    app = create_app(database, settings, clock=clock, wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Inbound(client, database, clock, wakes)


async def close(inbound: Inbound, alert_id: int) -> None:
    """Close the alert as an officer would."""
    async with inbound.database.session() as session:
        await alerts.close_alert(session, alert_id, OFFICER)


async def test_an_sms_reply_after_close_is_told_in_its_language(inbound: Inbound) -> None:
    """A reply to a closed alert records nothing, queues nothing, and is answered at once in
    the sender's language that the alert is closed."""
    alert_id, code = await inbound.raise_alert()
    await close(inbound, alert_id)
    for index, language in enumerate(LANGUAGES):
        response = await inbound.sms(phone(index), f"2 {code}")
        assert response.status_code == 200
        closed = TEMPLATES.strings[Language(language)]["answer.closed"]
        assert html.escape(closed, quote=False) in response.text
    assert await inbound.history() == []
    assert all(answer == (None, None) for answer in (await inbound.answers(alert_id)).values())
    assert await inbound.confirmations() == []


async def test_an_open_alert_still_takes_the_reply(inbound: Inbound) -> None:
    """With a newer alert open beside the closed one, a reply answers the open one."""
    closed_id, _ = await inbound.raise_alert()
    await close(inbound, closed_id)
    open_id, _ = await inbound.raise_alert()
    response = await inbound.sms(phone(5), "1")
    assert TEMPLATES.strings[Language.EN]["answer.closed"] not in response.text
    assert (await inbound.answers(open_id))["L5"][0] == "safe"
    assert (await inbound.answers(closed_id))["L5"][0] is None


async def test_closing_cancels_a_queued_confirmation(inbound: Inbound) -> None:
    """A confirmation of an answer still queued when the alert closes is not sent."""
    alert_id, _ = await inbound.raise_alert()
    await inbound.sms(phone(5), "1")
    assert len(await inbound.confirmations()) == 1
    await close(inbound, alert_id)
    query = select(DELIVERY.c.status).where(DELIVERY.c.purpose == "answer")
    async with inbound.database.session() as session:
        assert list((await session.execute(query)).scalars()) == ["cancelled"]


async def test_the_answer_page_of_a_closed_alert_records_nothing(inbound: Inbound) -> None:
    """The link's page says the alert is closed, without buttons; a POST records nothing."""
    alert_id, _ = await inbound.raise_alert()
    await close(inbound, alert_id)
    async with inbound.database.session() as session:
        query = select(PERSON.c.id).where(PERSON.c.person_id == "L3")
        person = (await session.execute(query)).scalar_one()
    path = "/ack/" + ack_tokens.issue(SECRET.encode(), alert_id, person, NOW + timedelta(days=7))
    closed = html.escape(TEMPLATES.strings[Language.FR]["page.closed"])
    for response in (
        await inbound.client.get(path),
        await inbound.client.post(path, data={"response": "help"}),
    ):
        assert response.status_code == 200
        assert closed in response.text
        assert "<button" not in response.text
    assert await inbound.history() == []
