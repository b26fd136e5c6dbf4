"""GET /api/v1/alerts/{id}/report through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from PIL import Image

from notifier.domain import Role
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.report_alert import raise_known_alert

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Reports:
    """A client of the app, the known alert, and tokens of an officer of its stations and of BEY."""

    client: httpx.AsyncClient
    alert_id: int
    officer: str
    bey: str

    async def get(self, token: str, alert_id: int | None = None, **params: str) -> httpx.Response:
        """GET the report of the known alert (or `alert_id`) with `token` as the bearer."""
        path = f"/api/v1/alerts/{alert_id or self.alert_id}/report"
        return await self.client.get(
            path, params=params, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
async def reports(database: Database) -> AsyncIterator[Reports]:
    """The app over the known alert (to NBO and GVA), with tokens of an officer of both and of BEY."""
    alert_id = await raise_known_alert(database, title="<script>alert(1)</script>")
    async with database.session() as session:
        officer = await tokens.create_token(
            session, "officer", Role.OFFICER, ["NBO", "GVA"], actor="test"
        )
        bey = await tokens.create_token(session, "bey", Role.OFFICER, ["BEY"], actor="test")
    app = create_app(database, clock=HandClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Reports(client, alert_id, officer, bey)


async def test_json_by_default(reports: Reports) -> None:
    """Without `format`, the report's JSON with its figures."""
    response = await reports.get(reports.officer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["recipients"], body["acknowledged"]) == (12, 9)
    assert body["time_to_acknowledge"] == {"p50": 40.0, "p90": 80.0, "p99": 80.0}


async def test_csv_is_an_attachment(reports: Reports) -> None:
    """CSV comes as text/csv, named alert-ID.csv, one row per recipient."""
    response = await reports.get(reports.officer, format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="alert-{reports.alert_id}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 12
    assert rows[0]["person_id"] == "G1" and rows[0]["seconds_to_acknowledge"] == "30.0"


async def test_html_page_escapes_the_title(reports: Reports) -> None:
    """HTML comes as text/html with the title escaped and no script."""
    response = await reports.get(reports.officer, format="html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "&lt;script&gt;" in response.text and "<script" not in response.text


async def test_png_is_an_image(reports: Reports) -> None:
    """PNG comes as image/png and opens as an image."""
    response = await reports.get(reports.officer, format="png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).format == "PNG"


async def test_another_stations_alert_is_404(reports: Reports) -> None:
    """An officer of another station gets 404, as for an alert never raised; its own get it."""
    assert (await reports.get(reports.officer)).status_code == 200
    hidden = await reports.get(reports.bey)
    missing = await reports.get(reports.officer, alert_id=reports.alert_id + 1000)
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]


async def test_unknown_format_is_422(reports: Reports) -> None:
    """An unknown format is refused, naming the field."""
    response = await reports.get(reports.officer, format="pdf")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "format"
