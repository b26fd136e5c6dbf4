"""The console's stations: the list by scope, one station's people, reach and readiness."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from notifier.console import responding, station_pages
from notifier.roster_import import import_roster
from notifier.store.engine import Database
from tests.console.console_app import Console, console_on
from tests.seeding import nairobi_people, seed

HARD_TO_REACH = [
    "N00100,Wanjiru No Phone,np@example.org,,NBO,en,",
    "N00101,Otieno No Mail,,+254722000101,NBO,en,",
]


@pytest.fixture
async def console(database: Database) -> AsyncIterator[Console]:
    """The console with two NBO people lacking a phone or an address, and a drill at NBO."""
    async with console_on(database) as console:
        await seed(database, HARD_TO_REACH)
        response = await console.client.post(
            "/api/v1/drills",
            json={"name": "nbo-monthly", "stations": ["NBO"], "cron": "0 10 1-7 * mon"},
            headers={"Authorization": f"Bearer {console.admin}"},
        )
        assert response.status_code == 201, response.text
        yield console


def _figures(html: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))


async def test_officer_sees_only_their_stations(console: Console) -> None:
    """The NBO officer's list holds NBO alone; GVA's page is a 404 like an unknown station's."""
    session = await console.sign_in(console.nbo_officer)
    listing = await console.get("/stations", session)
    assert listing.status_code == 200
    assert 'href="/stations/NBO"' in listing.text
    assert 'href="/stations/GVA"' not in listing.text
    gva = await console.get("/stations/GVA", session)
    unknown = await console.get("/stations/XYZ", session)
    assert gva.status_code == unknown.status_code == 404
    assert "United Nations Office at Geneva" not in gva.text
    assert gva.text == unknown.text


async def test_admin_lists_every_station_with_people(console: Console) -> None:
    """An admin sees every station, each with its active people counted."""
    listing = (await console.get("/stations", await console.sign_in(console.admin))).text
    for code in ("BEY", "BKK", "GVA", "NBO"):
        assert f'href="/stations/{code}"' in listing
    nbo = listing[listing.index('href="/stations/NBO"') :]
    assert _figures(nbo[: nbo.index("</li>")])["People"] == "5"


async def test_station_page_shows_reach_and_who_lacks_a_channel(console: Console) -> None:
    """NBO's page counts reach by SMS, e-mail and both, and lists the two hard to reach."""
    page = await console.get("/stations/NBO", await console.sign_in(console.nbo_officer))
    assert page.status_code == 200
    figures = _figures(page.text)
    assert figures["People"] == "5"
    assert figures["Reachable by SMS"] == "4"
    assert figures["Reachable by e-mail"] == "4"
    assert figures["Reachable both ways"] == "3"
    assert page.headers["content-security-policy"] == responding.HEADERS["Content-Security-Policy"]
    hard = page.text[page.text.index('id="hard-to-reach"') : page.text.index("<h2>Drills</h2>")]
    assert "Wanjiru No Phone" in hard
    assert "No phone" in hard
    assert "Otieno No Mail" in hard
    assert "No e-mail address" in hard
    assert "Person 0" not in hard


async def test_station_page_names_criteria_and_drills(console: Console) -> None:
    """The page gives the level with each criterion met or missed, and the station's drills."""
    page = (await console.get("/stations/NBO", await console.sign_in(console.admin))).text
    assert _figures(page)["Readiness level"] == "0 / 5"
    assert '<li class="missed"><span class="verdict">Level 1 · missed</span>' in page
    assert '<li class="met"><span class="verdict">Level 2 · met</span>' in page  # a schedule
    assert "drill schedule(s) not paused" in page
    assert 'href="/drills#drill-nbo-monthly"' in page
    gva = (await console.get("/stations/GVA", await console.sign_in(console.admin))).text
    assert "nbo-monthly" not in gva


async def test_station_page_lists_a_bounded_number_of_people(console: Console) -> None:
    """Past the page's limit, the rest of the roster is counted, not listed."""
    await seed(console.database, nairobi_people(station_pages.PEOPLE_LIMIT + 3, start=1000))
    page = (await console.get("/stations/NBO", await console.sign_in(console.admin))).text
    people = page[page.index("<h2>People</h2>") :]
    assert people.count("<li>") == station_pages.PEOPLE_LIMIT
    assert "and 8 more" in people


async def test_station_pages_in_french(console: Console) -> None:
    """With Accept-Language: fr, the stations' pages speak French."""
    session = await console.sign_in(console.nbo_officer)
    listing = await console.get("/stations", session, **{"Accept-Language": "fr"})
    assert "Niveau de préparation" in listing.text
    page = await console.get("/stations/NBO", session, **{"Accept-Language": "fr"})
    assert "Joignables par SMS" in page.text
    assert "Pas de téléphone" in page.text
    assert "Niveau 1 · manqué" in page.text


async def test_stations_need_a_session(console: Console) -> None:
    """Without a session the stations' pages send the browser to the sign-in form."""
    for path in ("/stations", "/stations/NBO"):
        response = await console.get(path, None)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


async def test_station_page_shows_chosen_channels(
    console: Console, database: Database, tmp_path: Path
) -> None:
    """A person who chose channels in the roster has them listed after their addresses."""
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "person_id,name,email,phone,station,language,groups,channels\n"
        'N00200,Chooser,c@example.org,+254722000200,NBO,en,,"whatsapp,email"\n',
        encoding="utf-8",
    )
    await import_roster(database, roster, actor="test")
    page = await console.get("/stations/NBO", await console.sign_in(console.nbo_officer))
    people = page.text[page.text.index('<ul class="people">') :]
    assert "+254722000200 · c@example.org · whatsapp, email</span>" in people
    assert "n0@example.org</span>" in people
