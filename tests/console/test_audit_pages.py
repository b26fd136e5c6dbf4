"""The console's audit log: admins only, the latest entries newest first, and the CSV export."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from notifier.store.engine import Database
from tests.console.console_app import Console, console_on


@pytest.fixture
async def console(database: Database) -> AsyncIterator[Console]:
    """The console with two alerts raised, so that the log holds their entries."""
    async with console_on(database) as console:
        await console.raise_alert("Flood in Gigiri", "NBO")
        await console.raise_alert("Fire in Palais", "GVA")
        yield console


async def test_only_admins_read_the_audit_log(console: Console) -> None:
    """Officers and viewers get the 403 page for the log and its CSV, and no link to them."""
    for token in (console.nbo_officer, console.viewer):
        session = await console.sign_in(token)
        assert 'href="/audit"' not in (await console.get("/", session)).text
        for path in ("/audit", "/audit.csv"):
            response = await console.get(path, session)
            assert response.status_code == 403
            assert "alert.raise" not in response.text
    admin = await console.sign_in(console.admin)
    assert 'href="/audit"' in (await console.get("/", admin)).text
    assert (await console.get("/audit.csv", None)).headers["location"] == "/login"


async def test_audit_page_lists_the_latest_first(console: Console) -> None:
    """The admin's page shows the entries newest first: the second alert before the first."""
    page = await console.get("/audit", await console.sign_in(console.admin))
    assert page.status_code == 200
    assert "newest first" in page.text
    second = page.text.index("alert.raise · alert:2")
    first = page.text.index("alert.raise · alert:1")
    assert second < first
    assert page.text.index("token.create") > first


async def test_audit_csv_is_the_apis(console: Console) -> None:
    """GET /audit.csv gives the same CSV as the API's export, with or without `since`."""
    session = await console.sign_in(console.admin)
    bearer = {"Authorization": f"Bearer {console.admin}"}
    for query in ("", "?since=2020-01-01"):
        mine = await console.get(f"/audit.csv{query}", session)
        separator = "&" if query else "?"
        api = await console.client.get(f"/api/v1/audit{query}{separator}format=csv", headers=bearer)
        assert mine.status_code == 200
        assert mine.headers["content-type"] == "text/csv; charset=utf-8"
        assert mine.content == api.content
        assert "alert.raise" in mine.text
    future = await console.get("/audit.csv?since=2099-01-01", session)
    assert future.text.splitlines() == ["at,actor,source,action,target,details"]


async def test_bad_since_names_the_field(console: Console) -> None:
    """A `since` that is not a date gets the page again with 400 and the field named."""
    response = await console.get("/audit.csv?since=yesterday", await console.sign_in(console.admin))
    assert response.status_code == 400
    assert "since: expected a date as YYYY-MM-DD" in response.text


async def test_audit_page_in_french(console: Console) -> None:
    """With Accept-Language: fr, the audit page speaks French."""
    session = await console.sign_in(console.admin)
    page = await console.get("/audit", session, **{"Accept-Language": "fr"})
    assert "Journal d’audit" in page.text
    assert "les plus récentes d’abord" in page.text
