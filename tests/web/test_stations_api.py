"""GET /api/v1/stations and a station's readiness through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from notifier.domain import Role
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.readiness_station import NOW, build

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?!data:)|url\(|@import|https?://""", re.I)


@dataclass(frozen=True, slots=True)
class Api:
    """A client of the app over NBO at level 3, and one token per kind of caller."""

    client: httpx.AsyncClient
    admin: str
    nbo: str
    gva: str
    viewer: str

    async def get(self, path: str, token: str | None, **params: str) -> httpx.Response:
        """GET `path` with `token` as the bearer (none when None)."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return await self.client.get(path, params=params, headers=headers)


@pytest.fixture
async def api(database: Database) -> AsyncIterator[Api]:
    """The app with NBO built at level 3, its clock at the builder's NOW."""
    await build(database, 3)
    async with database.session() as session:
        issued = [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO"], actor="test"),
            await tokens.create_token(session, "gva", Role.OFFICER, ["GVA"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
        ]
    app = create_app(database, clock=HandClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, *issued)


async def test_stations_listed_with_their_levels(api: Api) -> None:
    """An admin sees every station with its people and level."""
    response = await api.get("/api/v1/stations", api.admin)
    assert response.status_code == 200, response.text
    assert [(s["code"], s["people"], s["level"]) for s in response.json()] == [
        ("BEY", 0, 0), ("BKK", 0, 0), ("GVA", 0, 0), ("NBO", 10, 3),
    ]  # fmt: skip
    assert response.json()[3] == {
        "code": "NBO",
        "name": "United Nations Office at Nairobi",
        "country": "KE",
        "timezone": "Africa/Nairobi",
        "people": 10,
        "level": 3,
    }


async def test_officer_lists_only_their_stations(api: Api) -> None:
    """An officer of NBO sees NBO alone; a viewer of the organisation sees every station."""
    response = await api.get("/api/v1/stations", api.nbo)
    assert [s["code"] for s in response.json()] == ["NBO"]
    response = await api.get("/api/v1/stations", api.viewer)
    assert len(response.json()) == 4


async def test_officer_reads_their_station(api: Api) -> None:
    """The readiness as JSON: level, criteria met and missed, drills, roster, cost."""
    response = await api.get("/api/v1/stations/NBO/readiness", api.nbo)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["level"] == 3
    missed = {c["key"] for c in body["criteria"] if not c["met"]}
    assert missed == {"last_drill_acknowledged_advanced", "reachable_both", "sustained"}
    assert len(body["drills"]) == 12
    assert body["drills"][-1]["acknowledged_percent"] == 80.0
    assert body["drills"][-1]["p90"] == 240.0
    assert body["roster"]["both_percent"] == 90.0
    assert body["cost"]["currency"] == "USD"


async def test_viewer_reads_any_station(api: Api) -> None:
    """A viewer of the whole organisation reads NBO's readiness."""
    response = await api.get("/api/v1/stations/NBO/readiness", api.viewer)
    assert response.status_code == 200
    assert response.json()["station"]["code"] == "NBO"


async def test_other_station_is_404_like_a_missing_one(api: Api) -> None:
    """An officer of GVA asking for NBO gets the answer a station never created gets."""
    other = await api.get("/api/v1/stations/NBO/readiness", api.gva)
    missing = await api.get("/api/v1/stations/XYZ/readiness", api.admin)
    assert (other.status_code, missing.status_code) == (404, 404)
    assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"


async def test_token_required(api: Api) -> None:
    """Without a token, 401."""
    assert (await api.get("/api/v1/stations", None)).status_code == 401
    assert (await api.get("/api/v1/stations/NBO/readiness", None)).status_code == 401


async def test_html_page_is_self_contained(api: Api) -> None:
    """`?format=html` is one page with the trend plot inline and nothing fetched from outside."""
    response = await api.get("/api/v1/stations/NBO/readiness", api.nbo, format="html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert 'src="data:image/png;base64,' in page
    assert "level 3 of 5" in page
    assert EXTERNAL.search(page) is None


async def test_unknown_format_names_the_field(api: Api) -> None:
    """A format the route does not give is refused, naming `format`."""
    response = await api.get("/api/v1/stations/NBO/readiness", api.nbo, format="png")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "format"
