"""Through the SMS webhook and the API: "needs help" stands until "safe", and its text shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from notifier.domain import Role
from notifier.settings import load_settings
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import seed
from tests.web.test_inbound_sms import EMPTY_TWIML, LANGUAGES, NOW, Inbound, phone
from tests.web.test_webhooks import AUTH_TOKEN, PUBLIC_URL
from tests.web.wake import WakeCounter

RECORDED_HELP = "Recorded: you need help. Security has been told."


class Officer:
    """The same app seen by an officer through the API."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.token = token

    async def get(self, path: str, **params: str) -> Any:
        """GET `path` as the officer; the JSON body of a 200."""
        response = await self.client.get(
            path, params=params, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def both(database: Database) -> AsyncIterator[tuple[Inbound, Officer]]:
    """Six people at NBO, one per language (phones +254733000000..05); an admin's token."""
    rows = [
        f"L{index},Person {index},l{index}@example.org,{phone(index)},NBO,{language},"
        for index, language in enumerate(LANGUAGES)
    ]
    await seed(database, rows)
    async with database.session() as session:
        token = await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test")
    settings = load_settings(
        None, {"NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN, "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL}
    )
    clock, wakes = HandClock(NOW), WakeCounter()
    app = create_app(database, settings, clock=clock, wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Inbound(client, database, clock, wakes), Officer(client, token)


async def test_text_after_help_keeps_help_and_is_shown(both: tuple[Inbound, Officer]) -> None:
    """ "2" then "my leg is broken": still help, listed by ?response=help with the text."""
    inbound, officer = both
    alert_id, _ = await inbound.raise_alert()
    first_at = inbound.clock.at
    await inbound.sms(phone(5), "2")
    inbound.clock.at += timedelta(minutes=2)
    response = await inbound.sms(phone(5), "my leg is broken")
    assert response.text == EMPTY_TWIML
    assert (await inbound.answers(alert_id))["L5"] == ("help", first_at)
    assert [(row[2], row[3]) for row in await inbound.history()] == [
        ("help", "2"),
        ("other", "my leg is broken"),
    ]
    assert [row[2] for row in await inbound.confirmations()] == [RECORDED_HELP, RECORDED_HELP]
    path = f"/api/v1/alerts/{alert_id}"
    [row] = await officer.get(f"{path}/recipients", response="help")
    assert (row["person_id"], row["response"]) == ("L5", "help")
    assert row["latest_text"] == "my leg is broken"
    assert (await officer.get(f"{path}/recipients", response="other")) == []
    assert (await officer.get(path))["responses"] == {"safe": 0, "help": 1, "other": 0}


async def test_safe_after_help_and_text_becomes_safe(both: tuple[Inbound, Officer]) -> None:
    """ "2", "come quickly", then "1": safe, and the history keeps all three."""
    inbound, officer = both
    alert_id, _ = await inbound.raise_alert()
    await inbound.sms(phone(5), "2")
    await inbound.sms(phone(5), "come quickly")
    assert (await inbound.answers(alert_id))["L5"][0] == "help"
    await inbound.sms(phone(5), "1")
    assert (await inbound.answers(alert_id))["L5"][0] == "safe"
    assert [row[2] for row in await inbound.history()] == ["help", "other", "safe"]
    path = f"/api/v1/alerts/{alert_id}"
    assert (await officer.get(f"{path}/recipients", response="help")) == []
    [row] = await officer.get(f"{path}/recipients", response="safe")
    assert (row["person_id"], row["latest_text"]) == ("L5", "come quickly")


@pytest.mark.parametrize("body", ["", "  \n "])
async def test_empty_sms_after_help_records_nothing(
    both: tuple[Inbound, Officer], body: str
) -> None:
    """An MMS with only a picture (empty body) after "2": nothing kept, help stands, and the
    sender is told at once how to answer, in their language."""
    inbound, officer = both
    alert_id, _ = await inbound.raise_alert()
    await inbound.sms(phone(3), "2")
    response = await inbound.sms(phone(3), body)
    assert response.status_code == 200
    assert "Répondez 1 si vous êtes en sécurité, 2 si vous avez besoin d'aide." in response.text
    assert (await inbound.answers(alert_id))["L3"][0] == "help"
    assert [row[2] for row in await inbound.history()] == ["help"]
    assert len(await inbound.confirmations()) == 1
    [row] = await officer.get(f"/api/v1/alerts/{alert_id}/recipients", response="help")
    assert (row["person_id"], row["latest_text"]) == ("L3", None)


async def test_empty_sms_before_any_answer_acknowledges_nothing(
    both: tuple[Inbound, Officer],
) -> None:
    """An empty body as the first reply: the person still has not answered."""
    inbound, _ = both
    alert_id, _ = await inbound.raise_alert()
    await inbound.sms(phone(5), "")
    assert (await inbound.answers(alert_id))["L5"] == (None, None)
    assert await inbound.history() == []
    assert await inbound.confirmations() == []
