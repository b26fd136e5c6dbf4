"""The acknowledgement page: GET shows the buttons and records nothing, POST records, then 303."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from notifier import ack_tokens
from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Language, Role
from notifier.messages import Templates
from notifier.settings import load_settings
from notifier.store import alerts, materialisation
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT, RESPONSE
from notifier.web.ack_pages import SECURITY_HEADERS, best_language
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
SECRET = "ack-page-secret-key-0123456789abcdef"
TITLE = 'Flood <b>&</b> "river"'
PEOPLE = [
    "F00001,Françoise Martin,f@example.org,,NBO,fr,",
    "A00001,Amina Haddad,a@example.org,,NBO,ar,",
    "E00001,Edward Kamau,e@example.org,,NBO,en,",
    "G00001,Gustav Weber,g@example.org,,GVA,en,",  # not sent the alert (another station)
]


@dataclass(frozen=True, slots=True)
class AckSite:
    """A client of the app, its database and clock, and the alert sent to the people at NBO."""

    client: httpx.AsyncClient
    database: Database
    clock: HandClock
    templates: Templates
    alert_id: int

    async def link(self, person_id: str, *, expires_at: datetime | None = None) -> str:
        """The path of the acknowledgement link for a person (by roster id) of this alert."""
        query = select(PERSON.c.id).where(PERSON.c.person_id == person_id)
        async with self.database.session() as session:
            pk = (await session.execute(query)).scalar_one()
        expiry = expires_at or NOW + timedelta(days=7)
        return "/ack/" + ack_tokens.issue(SECRET.encode(), self.alert_id, pk, expiry)

    async def answer(self, path: str, response: str | None) -> httpx.Response:
        """POST the form as the page's buttons do (`response=None` leaves the field out)."""
        return await self.client.post(path, data={} if response is None else {"response": response})

    def words(self, language: Language, key: str) -> str:
        """A template string of the page, as the HTML shows it (escaped)."""
        return html.escape(self.templates.strings[language][key])


async def recorded(database: Database) -> tuple[list[Any], list[Any]]:
    """Every response row and every recipient's answer state, in a stable order."""
    r, c = RESPONSE.c, RECIPIENT.c
    responses = select(r.person, r.kind, r.channel, r.text, r.received_at).order_by(r.id)
    recipients = select(c.person, c.response, c.first_response_at, c.last_response_at).order_by(
        c.person
    )
    async with database.session() as session:
        return (
            [tuple(row) for row in await session.execute(responses)],
            [tuple(row) for row in await session.execute(recipients)],
        )


async def state_of(database: Database, person_id: str) -> tuple[Any, ...]:
    """The person's response, first and last response times, and their response rows."""
    query = (
        select(RECIPIENT.c.response, RECIPIENT.c.first_response_at, RECIPIENT.c.last_response_at)
        .join(PERSON, PERSON.c.id == RECIPIENT.c.person)
        .where(PERSON.c.person_id == person_id)
    )
    rows = (
        select(RESPONSE.c.kind, RESPONSE.c.channel, RESPONSE.c.received_at)
        .join(PERSON, PERSON.c.id == RESPONSE.c.person)
        .where(PERSON.c.person_id == person_id)
        .order_by(RESPONSE.c.id)
    )
    async with database.session() as session:
        current = (await session.execute(query)).one()
        history = [tuple(row) for row in await session.execute(rows)]
    return (*current, history)


@pytest.fixture
async def site(database: Database) -> AsyncIterator[AckSite]:
    """The app on a fixed clock, with an e-mail alert materialised for the three people at NBO."""
    await seed(database, PEOPLE)
    request = AlertRequest(
        title=TITLE, message="Move to higher floors.", stations=("NBO",), channels=(Channel.EMAIL,)
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("admin", Role.ADMIN))
    assert alert.id is not None
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    settings = load_settings(None, {"NOTIFIER_SECURITY__SECRET_KEY": SECRET})
    clock = HandClock(NOW)
    app = create_app(database, settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield AckSite(client, database, clock, app.state.templates, alert.id)


@pytest.mark.parametrize(
    ("person_id", "language", "direction"),
    [("F00001", Language.FR, "ltr"), ("A00001", Language.AR, "rtl")],
)
async def test_get_shows_the_buttons_in_the_persons_language(
    site: AckSite, person_id: str, language: Language, direction: str
) -> None:
    """GET is a page in the person's language and direction, with both buttons, recording nothing."""
    before = await recorded(site.database)
    response = await site.client.get(await site.link(person_id))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert page.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language.value}" dir="{direction}">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert site.words(language, "page.question") in page
    assert '<form method="post">' in page
    assert 'name="response" value="safe"' in page and 'name="response" value="help"' in page
    assert site.words(language, "page.safe") in page and site.words(language, "page.help") in page
    assert site.words(language, "page.change") not in page
    assert await recorded(site.database) == before


async def test_the_page_escapes_the_title_and_loads_nothing(site: AckSite) -> None:
    """The officer's title is escaped; the page has no script and no external resource."""
    page = (await site.client.get(await site.link("E00001"))).text
    assert html.escape(TITLE) in page
    assert TITLE not in page
    for forbidden in ("<script", "<link", "<img", "src=", "http://", "https://"):
        assert forbidden not in page


async def test_post_safe_records_by_email_and_redirects(site: AckSite) -> None:
    """POST safe records the answer (channel e-mail) and answers 303 to the same page."""
    path = await site.link("F00001")
    response = await site.answer(path, "safe")
    assert response.status_code == 303
    assert response.headers["location"] == path
    assert await state_of(site.database, "F00001") == ("safe", NOW, NOW, [("safe", "email", NOW)])
    assert (await state_of(site.database, "E00001"))[0] is None
    page = (await site.client.get(path)).text
    assert site.words(Language.FR, "answer.recorded_safe") in page
    assert site.words(Language.FR, "page.change") in page
    assert 'value="help"' in page


async def test_changing_safe_to_help_keeps_the_history(site: AckSite) -> None:
    """Safe, then help later: the page shows help; both rows stay; the first time is unchanged."""
    path = await site.link("A00001")
    assert (await site.answer(path, "safe")).status_code == 303
    site.clock.at = LATER
    assert (await site.answer(path, "help")).status_code == 303
    assert await state_of(site.database, "A00001") == (
        "help",
        NOW,
        LATER,
        [("safe", "email", NOW), ("help", "email", LATER)],
    )
    page = (await site.client.get(path)).text
    assert site.words(Language.AR, "answer.recorded_help") in page
    assert site.words(Language.AR, "answer.recorded_safe") not in page


@pytest.mark.parametrize("position", [0, 7, 22, 40])
async def test_a_tampered_token_is_404_and_records_nothing(site: AckSite, position: int) -> None:
    """Changing one character of the token (claims or signature) gives the invalid page, 404."""
    path = await site.link("E00001")
    token = path.removeprefix("/ack/")
    swapped = "b" if token[position] == "a" else "a"
    tampered = "/ack/" + token[:position] + swapped + token[position + 1 :]
    before = await recorded(site.database)
    for response in (await site.client.get(tampered), await site.answer(tampered, "safe")):
        assert response.status_code == 404
        assert site.words(Language.EN, "page.invalid") in response.text
        assert "<button" not in response.text
        assert html.escape(TITLE) not in response.text
    assert await recorded(site.database) == before


async def test_an_expired_token_is_410_and_records_nothing(site: AckSite) -> None:
    """A token that expired before now gives the expired page, 410, on GET and POST."""
    path = await site.link("E00001", expires_at=NOW - timedelta(seconds=1))
    before = await recorded(site.database)
    for response in (await site.client.get(path), await site.answer(path, "help")):
        assert response.status_code == 410
        assert site.words(Language.EN, "page.expired") in response.text
        assert "<button" not in response.text
    assert await recorded(site.database) == before


async def test_a_person_not_sent_the_alert_gets_the_invalid_page(site: AckSite) -> None:
    """A valid token for someone not sent the alert, or for an unknown alert, is 404."""
    strangers = [
        await site.link("G00001"),
        "/ack/" + ack_tokens.issue(SECRET.encode(), site.alert_id + 1000, 1, LATER),
        "/ack/" + ack_tokens.issue(SECRET.encode(), site.alert_id, 99_999, LATER),
    ]
    before = await recorded(site.database)
    for path in strangers:
        for response in (await site.client.get(path), await site.answer(path, "safe")):
            assert response.status_code == 404
            assert site.words(Language.EN, "page.invalid") in response.text
            assert html.escape(TITLE) not in response.text
    assert await recorded(site.database) == before


async def test_a_cancelled_alert_shows_the_closed_page(site: AckSite) -> None:
    """Once the alert is cancelled the page says so, without buttons, and POST records nothing."""
    async with site.database.session() as session:
        await alerts.cancel_alert(session, site.alert_id, Principal("admin", Role.ADMIN))
    path = await site.link("F00001")
    before = await recorded(site.database)
    for response in (await site.client.get(path), await site.answer(path, "safe")):
        assert response.status_code == 200
        assert site.words(Language.FR, "page.closed") in response.text
        assert "<button" not in response.text and "<form" not in response.text
    assert await recorded(site.database) == before


@pytest.mark.parametrize("value", [None, "", "maybe", "SAFE", "other"])
async def test_a_bad_response_value_is_400(site: AckSite, value: str | None) -> None:
    """A missing or unknown `response` is refused with 400, naming the field, recording nothing."""
    path = await site.link("F00001")
    before = await recorded(site.database)
    response = await site.answer(path, value)
    assert response.status_code == 400
    assert "response" in response.text and "safe" in response.text
    assert site.words(Language.FR, "page.question") in response.text
    assert await recorded(site.database) == before


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", Language.FR),
        ("de-DE, ar;q=0.3, es;q=0.7", Language.ES),
        ("zh-Hans-CN", Language.ZH),
        ("RU", Language.RU),
        ("en;q=0.2, ar", Language.AR),
        ("es;q=0.5, fr;q=0.5", Language.ES),
        ("fr;q=0, de", Language.EN),
        ("fr;q=bad, ru;q=2", Language.EN),
        ("*", Language.EN),
        ("", Language.EN),
    ],
)
def test_best_language_from_accept_language(header: str, language: Language) -> None:
    """The most preferred of our six languages wins; ties go to the first; English otherwise."""
    assert best_language(header) is language


async def test_accept_language_picks_the_invalid_pages_language(site: AckSite) -> None:
    """The invalid page follows the reader's Accept-Language, right to left for Arabic."""
    response = await site.client.get("/ack/not-a-token", headers={"Accept-Language": "ar, fr"})
    assert response.status_code == 404
    assert '<html lang="ar" dir="rtl">' in response.text
    assert site.words(Language.AR, "page.invalid") in response.text
    response = await site.client.get("/ack/not-a-token", headers={"Accept-Language": "fr-CA"})
    assert site.words(Language.FR, "page.invalid") in response.text


async def test_every_response_carries_the_security_headers(site: AckSite) -> None:
    """Question, redirect, 400, invalid and expired pages all forbid caching, referrers, framing."""
    path = await site.link("E00001")
    expired = await site.link("E00001", expires_at=NOW)
    responses = [
        await site.client.get(path),
        await site.answer(path, "safe"),
        await site.answer(path, "maybe"),
        await site.client.get("/ack/forged"),
        await site.client.get(expired),
    ]
    assert [response.status_code for response in responses] == [200, 303, 400, 404, 410]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]


async def test_answers_are_logged_without_the_token(site: AckSite) -> None:
    """ack_recorded names the alert and answer, ack_refused the reason; no event holds the token."""
    path = await site.link("E00001")
    with capture_logs() as logs:
        await site.answer(path, "help")
        await site.client.get(path + "x")
    events = [(log["event"], log.get("kind"), log.get("reason")) for log in logs]
    assert ("ack_recorded", "help", None) in events
    assert ("ack_refused", None, "invalid") in events
    assert next(log for log in logs if log["event"] == "ack_recorded")["alert_id"] == site.alert_id
    assert not any(path.removeprefix("/ack/") in str(log) for log in logs)
