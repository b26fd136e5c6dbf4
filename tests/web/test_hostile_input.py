"""No input gives a 500: odd ids, numbers and JSON are 404 or 422; a real failure is logged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from notifier.store.engine import Database
from tests.web.hostile_clients import ALERTS, EARTHQUAKE, Callers, bearer, callers, error_of

HUGE = "9" * 5000


@pytest.fixture
async def site(database: Database) -> AsyncIterator[Callers]:
    """The app over a seeded database, with one alert raised."""
    async with callers(database) as built:
        await built.raise_alert()
        yield built


@pytest.mark.parametrize(
    ("alert_id", "status"),
    [
        ("%C2%B2", 422),  # "²": a digit to str.isdigit, not to int
        ("%D9%A3", 422),  # "٣", ARABIC-INDIC DIGIT THREE: a digit to int, not an id
        (str(2**31), 404),  # past PostgreSQL's INTEGER, the alert id's type
        (str(2**63), 404),  # past SQLite's INTEGER
        (str(2**64), 404),
        (HUGE, 404),
        ("0" * 5000 + "1", 200),
    ],
)
@pytest.mark.parametrize("suffix", ["", "/recipients", "/cancel"])
async def test_alert_ids_that_are_not_ours_are_404_or_422(
    site: Callers, alert_id: str, status: int, suffix: str
) -> None:
    """An id that is no number is 422 naming `id`; one past the id column's range is 404."""
    path = f"{ALERTS}/{alert_id}{suffix}"
    if suffix == "/cancel":
        response = await site.client.post(path, headers=bearer(site.admin))
    else:
        response = await site.client.get(path, headers=bearer(site.admin))
    assert response.status_code == status, response.text
    if status == 422:
        assert error_of(response)["field"] == "id"
    if status == 404:
        assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("value", ["²", "١٠", HUGE])
async def test_page_numbers_that_are_not_numbers_are_422(
    site: Callers, name: str, value: str
) -> None:
    """`limit` and `offset` of other digits, of thousands of digits or past their range: 422."""
    response = await site.client.get(
        f"{ALERTS}/1/recipients", params={name: value}, headers=bearer(site.admin)
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == name


@pytest.mark.parametrize("station", ["\x00", "N\x00BO", "x" * 5000, "NB O"])
async def test_station_filter_that_is_no_station_code_is_422(site: Callers, station: str) -> None:
    """`station=` must be a station code; a NUL or a long string is 422, not a database error."""
    response = await site.client.get(
        f"{ALERTS}/1/recipients", params={"station": station}, headers=bearer(site.admin)
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "station"


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": ' + b"1" * 5000 + b"}",
        b'{"title": "Quake", "message": "m", "stations": ["NBO"], "severity": -'
        + b"7" * 4500
        + b"}",
        b"[" * 10_000 + b"]" * 10_000,
        b'{"title":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001,
        b'{"title": "\\ud800", "message": "m", "stations": ["NBO"]}',
        b'{"\\udfff": 1}',
    ],
    ids=["long-int", "long-negative-int", "deep-array", "deep-object", "surrogate", "key"],
)
async def test_json_the_api_cannot_take_is_422(site: Callers, body: bytes) -> None:
    """Numbers of thousands of digits, nesting 10,000 deep, lone surrogates: 422 naming `body`."""
    response = await site.client.post(
        ALERTS, content=body, headers=bearer(site.admin) | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == "body"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "Earth\x00quake"}, "title"),
        ({"message": "Leave\x00"}, "message"),
        ({"messages": {"fr": "Partez\x00"}}, "messages"),
        ({"people": ["N\x0000000"]}, "people"),
        ({"groups": ["war\x00dens"]}, "groups"),
    ],
)
async def test_text_no_database_can_store_is_422(
    site: Callers, changes: dict[str, object], field: str
) -> None:
    """A NUL character (which PostgreSQL refuses in text) is 422 naming the field."""
    response = await site.client.post(ALERTS, json=EARTHQUAKE | changes, headers=bearer(site.admin))
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field


async def test_more_names_than_a_query_can_bind_is_422(database: Database) -> None:
    """35,000 people named in one request (past what one query binds) is 422, not a 500."""
    people = [f"P{index:05d}" for index in range(35_000)]
    async with callers(database, {"NOTIFIER_HTTP__MAX_BODY_BYTES": "1048576"}) as site:
        response = await site.client.post(
            ALERTS, json=EARTHQUAKE | {"people": people}, headers=bearer(site.admin)
        )
    assert response.status_code == 422
    assert error_of(response) == {
        "code": "invalid",
        "message": "more than 5000 names",
        "field": "people",
    }


async def test_a_failing_request_is_a_logged_json_500(site: Callers) -> None:
    """When the database fails under a request, the answer is the JSON 500, logged with the trace."""
    async with site.database.session() as session:
        await session.execute(text("ALTER TABLE alert RENAME TO alert_away"))
    with capture_logs() as events:
        response = await site.client.get(ALERTS, headers=bearer(site.admin))
        healthy = await site.client.get("/healthz")
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    [failed] = [event for event in events if event["event"] == "http_request_failed"]
    assert failed["path"] == ALERTS
    assert failed["log_level"] == "error"
    assert failed["exc_info"] is True
    assert healthy.status_code == 200
