"""GET /api/v1/audit through the real app on SQLite and PostgreSQL: admins only, JSON pages,
streamed CSV; and the API's own actions audited with the client's address."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from notifier.domain import Role
from notifier.store import tokens
from notifier.store.audit import AUDIT_LOG
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.seeding import nairobi_people, seed

AUDIT = "/api/v1/audit"
EARTHQUAKE = {"title": "Earthquake", "message": "Leave the building.", "stations": ["NBO"]}


@dataclass(frozen=True, slots=True)
class Site:
    """A client of the app, its database, and one token per role."""

    client: httpx.AsyncClient
    database: Database
    admin: str
    officer: str
    viewer: str

    async def get(self, token: str, **params: str) -> httpx.Response:
        """GET /api/v1/audit with `params`, as the holder of `token`."""
        headers = {"Authorization": f"Bearer {token}"}
        return await self.client.get(AUDIT, params=params, headers=headers)


@pytest.fixture
async def site(database: Database) -> AsyncIterator[Site]:
    """The app on a seeded database, with admin, officer and viewer tokens."""
    await seed(database, nairobi_people(2))
    async with database.session() as session:
        issued = [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
        ]
    transport = httpx.ASGITransport(app=create_app(database), client=("127.0.0.1", 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Site(client, database, *issued)


async def _fill(database: Database, rows: list[dict[str, Any]]) -> None:
    async with database.session() as session:
        await session.execute(insert(AUDIT_LOG), rows)


def _row(at: datetime, target: str, actor: str = "a") -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "source": "s",
        "action": "test",
        "target": target,
        "details": {},
    }


async def test_an_api_action_is_audited_with_the_clients_address(site: Site) -> None:
    """An alert raised and cancelled through the API shows the token's name and `api 127.0.0.1`."""
    headers = {"Authorization": f"Bearer {site.officer}"}
    raised = await site.client.post("/api/v1/alerts", json=EARTHQUAKE, headers=headers)
    assert raised.status_code == 202, raised.text
    alert_id = raised.json()["id"]
    cancelled = await site.client.post(f"/api/v1/alerts/{alert_id}/cancel", headers=headers)
    assert cancelled.status_code == 200
    entries = (await site.get(site.admin, limit="1000")).json()
    assert [
        (entry["action"], entry["actor"], entry["source"], entry["target"])
        for entry in entries
        if entry["action"].startswith("alert.")
    ] == [
        ("alert.raise", "nbo", "api 127.0.0.1", f"alert:{alert_id}"),
        ("alert.cancel", "nbo", "api 127.0.0.1", f"alert:{alert_id}"),
    ]


@pytest.mark.parametrize("role", ["officer", "viewer"])
async def test_only_admins_read_the_audit_log(site: Site, role: str) -> None:
    """Officers and viewers are refused with 403, in JSON and CSV alike."""
    token = site.officer if role == "officer" else site.viewer
    for params in ({}, {"format": "csv"}):
        response = await site.get(token, **params)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


async def test_no_token_is_401(site: Site) -> None:
    """Without a token the log is not shown."""
    assert (await site.client.get(AUDIT)).status_code == 401


async def test_json_pages_oldest_first_with_a_cursor(site: Site) -> None:
    """`limit` bounds a page; `after` the last id goes on where it stopped; `since` cuts."""
    day = datetime(2030, 1, 2, tzinfo=UTC)
    await _fill(site.database, [_row(day + timedelta(minutes=i), f"t{i}") for i in range(5)])
    since = {"since": "2030-01-02"}
    first = (await site.get(site.admin, limit="2", **since)).json()
    assert [entry["target"] for entry in first] == ["t0", "t1"]
    assert first[0]["at"] == "2030-01-02T00:00:00.000000+00:00"
    second = (await site.get(site.admin, limit="2", after=str(first[-1]["id"]), **since)).json()
    assert [entry["target"] for entry in second] == ["t2", "t3"]
    everything = (await site.get(site.admin, limit="1000")).json()
    assert [entry["target"] for entry in everything][-5:] == [f"t{i}" for i in range(5)]
    assert len(everything) == 3 + 2 + 5  # the seeding's imports and tokens come first


async def test_csv_is_streamed_whole_and_reads_back(site: Site) -> None:
    """format=csv gives every entry from `since` on, as an attachment, formula cells quoted."""
    day = datetime(2030, 1, 2, tzinfo=UTC)
    rows = [_row(day + timedelta(seconds=i), f"t{i}") for i in range(2500)]
    rows.append(_row(day + timedelta(days=1), "=cmd|' /C calc'!A0", actor="@boss"))
    await _fill(site.database, [_row(day - timedelta(days=1), "before"), *rows])
    response = await site.get(site.admin, since="2030-01-02", format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="audit-since-2030-01-02.csv"'
    )
    read = list(csv.DictReader(io.StringIO(response.text)))
    assert len(read) == 2501
    assert [line["target"] for line in read[:3]] == ["t0", "t1", "t2"]
    assert (read[-1]["actor"], read[-1]["target"]) == ("'@boss", "'=cmd|' /C calc'!A0")
    assert read[0]["at"] == "2030-01-02T00:00:00.000000+00:00"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2030-02-30"}, "since"),
        ({"since": "yesterday", "format": "csv"}, "since"),
        ({"format": "xml"}, "format"),
        ({"limit": "0"}, "limit"),
        ({"after": "x"}, "after"),
        ({"after": "999999999"}, "after"),
        # The CSV checks them too, though it streams the whole log from `since` on.
        ({"format": "csv", "limit": "5000"}, "limit"),
        ({"format": "csv", "after": "null"}, "after"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    site: Site, params: dict[str, str], field: str
) -> None:
    """A bad date, format, limit or cursor is refused with 422 and the field's name."""
    response = await site.get(site.admin, **params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
