"""The console's pages: what each role sees, the live figures, languages, static files."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from notifier.console import pages
from notifier.settings import Settings
from notifier.store import materialisation
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT
from notifier.web.app import create_app
from tests.console.console_app import NOW, Console, console_on
from tests.seeding import seed

CONSOLE = Path(pages.__file__).parent
_EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+|@import|url\(", re.IGNORECASE)


@pytest.fixture
async def console(database: Database) -> AsyncIterator[Console]:
    """The console with one alert at NBO and one at GVA."""
    async with console_on(database) as console:
        await console.raise_alert("Flood in Gigiri", "NBO")
        await console.raise_alert("Fire in Palais", "GVA")
        yield console


async def _answer(database: Database, alert_id: int, person_id: str, response: str) -> None:
    """List the alert's audience and record `response` for `person_id` in its recipient row."""
    while not (await _materialise(database, alert_id)):
        pass
    async with database.session() as session:
        person = select(PERSON.c.id).where(PERSON.c.person_id == person_id).scalar_subquery()
        await session.execute(
            update(RECIPIENT)
            .where(RECIPIENT.c.alert_id == alert_id, RECIPIENT.c.person == person)
            .values(response=response, first_response_at=NOW, last_response_at=NOW)
        )


async def _materialise(database: Database, alert_id: int) -> bool:
    async with database.session() as session:
        return (await materialisation.materialise_batch(session, alert_id, 10, NOW)).finished


async def test_officer_sees_only_their_stations_alerts(console: Console) -> None:
    """The NBO officer's list holds NBO's alert, not GVA's; GVA's page is a 404 like none."""
    session = await console.sign_in(console.nbo_officer)
    home = await console.get("/", session)
    assert "Flood in Gigiri" in home.text
    assert "Fire in Palais" not in home.text
    gva = await console.get("/alerts/2", session)
    missing = await console.get("/alerts/999", session)
    assert gva.status_code == missing.status_code == 404
    assert "Fire in Palais" not in gva.text
    assert (await console.get("/alerts/1", session)).status_code == 200


async def test_viewer_sees_every_alert_but_no_raise_link(console: Console) -> None:
    """A viewer reads both alerts, has no link to raise one, and is refused its page."""
    session = await console.sign_in(console.viewer)
    home = await console.get("/", session)
    assert "Flood in Gigiri" in home.text
    assert "Fire in Palais" in home.text
    assert 'href="/alerts/new"' not in home.text
    assert (await console.get("/alerts/new", session)).status_code == 403


async def test_officer_has_the_raise_link(console: Console) -> None:
    """An officer's console links to raising an alert."""
    session = await console.sign_in(console.nbo_officer)
    assert 'href="/alerts/new"' in (await console.get("/", session)).text
    assert (await console.get("/alerts/new", session)).status_code == 200


async def test_figures_count_the_answers(console: Console) -> None:
    """The list and the alert's page show recipients and answers per kind as recorded."""
    await _answer(console.database, 1, "N00001", "help")
    await _answer(console.database, 1, "N00002", "safe")
    session = await console.sign_in(console.admin)
    home = (await console.get("/", session)).text
    card = home[home.index("Flood in Gigiri") :]
    card = card[: card.index("</li>")]
    assert _figures(card) == {
        "Recipients": "3",
        "Acknowledged": "2",
        "Need help": "1",
        "Safe": "1",
        "Other": "0",
    }
    page = (await console.get("/alerts/1", session)).text
    assert _figures(page)["Not answered"] == "1"
    assert _figures(page)["Need help"] == "1"


def _figures(html: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))


async def test_open_alerts_come_first(console: Console) -> None:
    """A closed alert is listed after an open one, though it is newer."""
    newer = await console.raise_alert("Closed drill", "NBO")
    response = await console.client.post(
        f"/api/v1/alerts/{newer}/close", headers={"Authorization": f"Bearer {console.admin}"}
    )
    assert response.status_code == 200
    home = (await console.get("/", await console.sign_in(console.admin))).text
    assert home.index("Fire in Palais") < home.index("Flood in Gigiri") < home.index("Closed drill")


async def test_pages_are_in_french_when_the_browser_asks(console: Console) -> None:
    """With Accept-Language: fr, the sign-in form and the console speak French."""
    login = await console.get("/login", None, **{"Accept-Language": "fr-CH, en;q=0.8"})
    assert '<html lang="fr" dir="ltr">' in login.text
    assert "Se connecter" in login.text
    session = await console.sign_in(console.nbo_officer)
    home = await console.get("/", session, **{"Accept-Language": "fr"})
    assert "Agent de sécurité" in home.text
    assert "Besoin d’aide" in home.text
    english = await console.get("/", session, **{"Accept-Language": "de, en;q=0.5"})
    assert "Security officer" in english.text


async def test_arabic_pages_run_right_to_left(console: Console) -> None:
    """An Arabic page is marked right to left (its text falls back to English until translated)."""
    login = await console.get("/login", None, **{"Accept-Language": "ar"})
    assert '<html lang="ar" dir="rtl">' in login.text


@pytest.mark.parametrize(
    ("path", "media_type"),
    [("/static/console.css", "text/css"), ("/static/console.js", "text/javascript")],
)
async def test_static_files_are_served(console: Console, path: str, media_type: str) -> None:
    """The stylesheet and the script are served under /static/ without signing in."""
    response = await console.get(path, None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content == (CONSOLE / "static" / path.rsplit("/", 1)[1]).read_bytes()


async def test_pages_reference_nothing_outside(console: Console) -> None:
    """No page, template or static file names an external URL, and the CSP allows only 'self'."""
    session = await console.sign_in(console.admin)
    texts = [(await console.get(path, session)).text for path in ("/", "/alerts/1", "/alerts/new")]
    login = await console.get("/login", None)
    texts.append(login.text)
    for file in [*(CONSOLE / "templates").iterdir(), *(CONSOLE / "static").iterdir()]:
        texts.append(file.read_text(encoding="utf-8"))
    assert [found for text in texts for found in _EXTERNAL.findall(text)] == []
    assert login.headers["content-security-policy"].startswith("default-src 'self';")


async def test_language_switcher_remembers_the_choice(console: Console) -> None:
    """/language/ru sets the `lang` cookie, which wins over Accept-Language; unknown is ignored."""
    response = await console.get("/language/ru", None)
    assert response.status_code == 303
    assert response.cookies.get("lang") == "ru"
    assert "samesite=lax" in response.headers["set-cookie"].lower()
    console.client.cookies.clear()
    login = await console.client.get(
        "/login", headers={"Cookie": "lang=fr", "Accept-Language": "en"}
    )
    assert '<html lang="fr"' in login.text
    unknown = await console.get("/language/xx", None)
    assert unknown.status_code == 303
    assert "set-cookie" not in unknown.headers


async def test_without_a_secret_key_no_one_signs_in(database: Database) -> None:
    """With no `security.secret_key`, sign-in is refused with 503 and no cookie."""
    await seed(database, [])
    app = create_app(database, Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/login", data={"token": "ntf_anything"})
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    assert "security.secret_key is not set" in response.text
