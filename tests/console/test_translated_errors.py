"""A field's error and a station's readiness criteria in the console reader's language; the
API keeps its English."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlencode

import pytest

from notifier.store.engine import Database
from tests.console.console_app import Console, console_on, csrf_of

FORM = [
    ("stations", "NBO"),
    ("severity", "minor"),
    ("kind", "drill"),
    ("channels", "sms"),
    ("channels", "email"),
    ("title", "Monthly drill"),
    ("message", "This is a drill."),
]


@pytest.fixture
async def console(database: Database) -> AsyncIterator[Console]:
    """The console over NBO's and GVA's people, with a drill scheduled at NBO."""
    async with console_on(database) as console:
        response = await console.client.post(
            "/api/v1/drills",
            json={"name": "nbo-monthly", "stations": ["NBO"], "cron": "0 10 1-7 * mon"},
            headers={"Authorization": f"Bearer {console.admin}"},
        )
        assert response.status_code == 201, response.text
        yield console


def _with(name: str, value: str | None) -> list[tuple[str, str]]:
    """The form with the field `name` set to `value` (None: left out)."""
    kept = [(field, old) for field, old in FORM if field != name]
    return kept if value is None else [*kept, (name, value)]


async def _preview(
    console: Console, fields: Sequence[tuple[str, str]], *, cookies: str = "", **headers: str
) -> str:
    """POST the raise form to the preview as NBO's officer; the 422 page's problem texts."""
    session = await console.sign_in(console.nbo_officer)
    cookie = f"notifier_session={session}" + (f"; {cookies}" if cookies else "")
    csrf = csrf_of((await console.get("/", session)).text)
    console.client.cookies.clear()
    response = await console.client.post(
        "/alerts/new/preview",
        content=urlencode([("csrf", csrf), *fields]),
        headers={
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            **headers,
        },
    )
    assert response.status_code == 422, response.text
    return html.unescape(response.text)


@pytest.mark.parametrize(
    ("name", "value", "field", "french"),
    [
        ("title", "x" * 201, "title", "dépasse 200 caractères"),
        ("stations", "XYZ", "stations", "station(s) inconnue(s) : XYZ"),
        ("stations", None, "stations", "indiquez au moins une station (ou une personne)"),
        ("groups", "nobody", "groups", "personne n’appartient à ce(s) groupe(s) : nobody"),
    ],
)
async def test_a_french_reader_sees_the_reason_in_french(
    console: Console, name: str, value: str | None, field: str, french: str
) -> None:
    """With Accept-Language: fr, the reason beside the field is French."""
    page = await _preview(console, _with(name, value), **{"Accept-Language": "fr"})
    assert f'<p class="field-problem" id="problem-{field}">{french}</p>' in page
    assert "Veuillez corriger le champ signalé." in page


async def test_the_language_cookie_chooses_french_too(console: Console) -> None:
    """The `lang` cookie set to fr gives the French reason, whatever the browser asks."""
    page = await _preview(
        console, _with("title", "x" * 201), cookies="lang=fr", **{"Accept-Language": "en"}
    )
    assert '<p class="field-problem" id="problem-title">dépasse 200 caractères</p>' in page


@pytest.mark.parametrize(
    ("name", "value", "field", "english"),
    [
        ("title", "x" * 201, "title", "longer than 200 characters"),
        ("stations", "XYZ", "stations", "unknown station(s): XYZ"),
        ("stations", None, "stations", "name at least one station (or person)"),
    ],
)
async def test_an_english_reader_sees_the_english_reason(
    console: Console, name: str, value: str | None, field: str, english: str
) -> None:
    """Without a French choice the reason is today's English text."""
    page = await _preview(console, _with(name, value))
    assert f'<p class="field-problem" id="problem-{field}">{english}</p>' in page


async def test_a_language_without_translations_falls_back_to_english(console: Console) -> None:
    """A Russian reader, whose catalogue is not yet translated, reads the English reason."""
    page = await _preview(console, _with("title", "x" * 201), **{"Accept-Language": "ru"})
    assert '<p class="field-problem" id="problem-title">longer than 200 characters</p>' in page


async def test_a_reason_is_escaped_in_either_language(console: Console) -> None:
    """A station code the officer typed is shown as text inside the French reason."""
    session = await console.sign_in(console.nbo_officer)
    csrf = csrf_of((await console.get("/", session)).text)
    console.client.cookies.clear()
    response = await console.client.post(
        "/alerts/new/preview",
        content=urlencode([("csrf", csrf), *_with("stations", "<B>")]),
        headers={
            "Cookie": f"notifier_session={session}; lang=fr",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 422
    assert "&#39;&lt;B&gt;&#39; n’est pas un code de station" in response.text


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"title": "x" * 201}, "title", "longer than 200 characters"),
        ({"stations": ["XYZ"]}, "stations", "unknown station(s): XYZ"),
        ({"stations": []}, "stations", "name at least one station (or person)"),
    ],
)
async def test_the_api_error_body_stays_english(
    console: Console, body: dict[str, object], field: str, message: str
) -> None:
    """POST /api/v1/alerts answers with the English reason, even to a French client."""
    request = {"title": "Drill", "message": "This is a drill.", "stations": ["NBO"]} | body
    response = await console.client.post(
        "/api/v1/alerts",
        json=request,
        headers={"Authorization": f"Bearer {console.admin}", "Accept-Language": "fr"},
    )
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "invalid", "message": message, "field": field}}


async def _station_page(console: Console, **headers: str) -> str:
    response = await console.get("/stations/NBO", await console.sign_in(console.admin), **headers)
    assert response.status_code == 200
    return html.unescape(response.text)


async def test_a_station_page_in_french_gives_the_criteria_in_french(console: Console) -> None:
    """The criteria read in French, with the station's own figures."""
    page = await _station_page(console, **{"Accept-Language": "fr"})
    assert "exercices effectués au cours des 12 derniers mois : 0, requis : ≥ 1" in page
    assert "planifications d’exercices hors pause : 1, requis : ≥ 1" in page
    assert "100 % de l’effectif (3 sur 3) joignable par SMS, requis : ≥ 80 %" in page
    assert "points focaux désignés (groupe security-focal-points) : 0, requis : ≥ 1" in page
    assert (
        "mois sans exercice sur les 12 derniers : 12, déclenchements manqués enregistrés : 0, "
        "requis : ≤ 1 pour chacun"
    ) in page
    assert "drill(s)" not in page


async def test_a_station_page_in_english_keeps_the_criteria_text(console: Console) -> None:
    """In English the criteria are the texts the API and the reports give."""
    page = await _station_page(console)
    readiness = await console.client.get(
        "/api/v1/stations/NBO/readiness", headers={"Authorization": f"Bearer {console.admin}"}
    )
    assert readiness.status_code == 200, readiness.text
    texts = [criterion["text"] for criterion in readiness.json()["criteria"]]
    assert "1 drill schedule(s) not paused, needs ≥ 1" in texts
    for text in texts:
        assert f"<span>{text}</span>" in page
