"""The drill schedules' API through the real Starlette app, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from notifier.domain import Role
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import nairobi_people, seed
from tests.web.wake import WakeCounter

NOW = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # a Friday
DRILLS = "/api/v1/drills"
MONTHLY = {"name": "monthly", "stations": ["NBO"], "cron": "0 10 1-7 * mon", "groups": ["wardens"]}
ROSTER = [*nairobi_people(2, groups="wardens"), *nairobi_people(1, start=2)]


@dataclass(frozen=True, slots=True)
class Api:
    """A client of the app, and one token per kind of caller."""

    client: httpx.AsyncClient
    wakes: WakeCounter
    admin: str
    nbo_officer: str
    gva_officer: str
    viewer: str

    async def call(self, method: str, path: str, token: str, body: object = None) -> httpx.Response:
        """Send `body` as JSON with `token` as the bearer."""
        headers = {"Authorization": f"Bearer {token}"}
        return await self.client.request(method, path, json=body, headers=headers)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an API error body."""
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.fixture
async def api(database: Database) -> AsyncIterator[Api]:
    """The app on a seeded database, its clock set to NOW, with one token per kind of caller."""
    await seed(database, ROSTER)
    async with database.session() as session:
        issued = [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO"], actor="test"),
            await tokens.create_token(session, "gva", Role.OFFICER, ["GVA"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
        ]
    wakes = WakeCounter()
    app = create_app(database, clock=HandClock(NOW), wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, wakes, *issued)


async def test_an_officer_manages_a_drill_of_their_station(api: Api) -> None:
    """Add (201), list, pause, resume, run (202, dispatcher woken) and remove (204)."""
    response = await api.call("POST", DRILLS, api.nbo_officer, MONTHLY)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/api/v1/drills/monthly"
    added = response.json()
    assert added == {
        "name": "monthly",
        "stations": ["NBO"],
        "groups": ["wardens"],
        "channels": ["sms", "email"],
        "cron": "0 10 1-7 * mon",
        "timezone": "Africa/Nairobi",
        "paused": False,
        "next_run": "2027-01-04T10:00:00+03:00",
        "next_run_utc": "2027-01-04T07:00:00+00:00",
        "last_alert_id": None,
        "missed": 0,
    }
    assert (await api.call("GET", DRILLS, api.nbo_officer)).json() == [added]

    paused = await api.call("POST", f"{DRILLS}/monthly/pause", api.nbo_officer)
    assert paused.status_code == 200
    assert (paused.json()["paused"], paused.json()["next_run"]) == (True, None)
    resumed = await api.call("POST", f"{DRILLS}/monthly/resume", api.nbo_officer)
    assert resumed.json() == added

    run = await api.call("POST", f"{DRILLS}/monthly/run", api.nbo_officer)
    assert run.status_code == 202, run.text
    body = run.json()
    assert (body["kind"], body["recipients"]) == ("drill", 2)
    assert run.headers["Location"] == f"/api/v1/alerts/{body['id']}"
    assert api.wakes.calls == 1
    alert = await api.call("GET", f"/api/v1/alerts/{body['id']}", api.nbo_officer)
    assert alert.json()["title"] == "Scheduled drill"
    [listed] = (await api.call("GET", DRILLS, api.admin)).json()
    assert listed["last_alert_id"] == body["id"]

    removed = await api.call("DELETE", f"{DRILLS}/monthly", api.nbo_officer)
    assert (removed.status_code, removed.content) == (204, b"")
    assert (await api.call("GET", DRILLS, api.admin)).json() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"cron": "0 10 * *"}, "cron"),
        ({"cron": "0 10 * * 8"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"stations": ["NBO", "GVA"], "groups": []}, "timezone"),
        ({"stations": ["XYZ"]}, "stations"),
        ({"groups": ["cooks"]}, "groups"),
        ({"name": "a/b"}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_drills_are_422_naming_the_field(
    api: Api, changes: dict[str, object], field: str
) -> None:
    """A drill the rules refuse answers 422 with the field at fault; nothing is stored."""
    response = await api.call("POST", DRILLS, api.admin, MONTHLY | changes)
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field
    assert (await api.call("GET", DRILLS, api.admin)).json() == []


async def test_another_stations_drill_is_unknown_to_an_officer(api: Api) -> None:
    """An officer of GVA cannot add for NBO (422) and finds NBO's drill absent (404)."""
    response = await api.call("POST", DRILLS, api.gva_officer, MONTHLY | {"groups": []})
    assert (response.status_code, error_of(response)["field"]) == (422, "stations")
    assert (await api.call("POST", DRILLS, api.admin, MONTHLY)).status_code == 201
    assert (await api.call("GET", DRILLS, api.gva_officer)).json() == []
    for method, path in [
        ("DELETE", f"{DRILLS}/monthly"),
        ("POST", f"{DRILLS}/monthly/pause"),
        ("POST", f"{DRILLS}/monthly/resume"),
        ("POST", f"{DRILLS}/monthly/run"),
        ("POST", f"{DRILLS}/never-added/run"),
    ]:
        response = await api.call(method, path, api.gva_officer)
        assert response.status_code == 404, (method, path)
        assert error_of(response)["code"] == "not_found"
    assert api.wakes.calls == 0


async def test_viewers_read_and_are_refused_every_change(api: Api) -> None:
    """A viewer lists the drills; adding, removing, pausing and running are 403."""
    assert (await api.call("POST", DRILLS, api.admin, MONTHLY)).status_code == 201
    assert [d["name"] for d in (await api.call("GET", DRILLS, api.viewer)).json()] == ["monthly"]
    for method, path, body in [
        ("POST", DRILLS, MONTHLY | {"name": "other"}),
        ("DELETE", f"{DRILLS}/monthly", None),
        ("POST", f"{DRILLS}/monthly/pause", None),
        ("POST", f"{DRILLS}/monthly/run", None),
    ]:
        response = await api.call(method, path, api.viewer, body)
        assert response.status_code == 403, (method, path)
    assert len((await api.call("GET", DRILLS, api.admin)).json()) == 1


async def test_no_token_is_401(api: Api) -> None:
    """The drills' routes ask for a bearer token like every other API route."""
    assert (await api.client.get(DRILLS)).status_code == 401
    assert (await api.client.post(f"{DRILLS}/monthly/run")).status_code == 401
