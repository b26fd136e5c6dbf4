"""The officers' API through the real Starlette app, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from notifier.domain import Channel, Role
from notifier.store import materialisation, outbox, tokens
from notifier.store.engine import Database
from notifier.store.tables import ALERT, PERSON, RECIPIENT, AuditEntry
from notifier.web.app import create_app
from tests.seeding import nairobi_people, seed
from tests.web.wake import WakeCounter

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
ALERTS = "/api/v1/alerts"
NBO_ACTIVE = 4  # five NBO people are seeded, N00004 is deactivated
ROSTER = [
    *nairobi_people(2, groups="wardens"),
    *nairobi_people(3, start=2),
    "G00001,Hélène Dubois,helene@example.org,+41791234567,GVA,fr,wardens",
]
EARTHQUAKE = {"title": "Earthquake", "message": "Leave the building.", "stations": ["NBO"]}


@dataclass(frozen=True, slots=True)
class Api:
    """A client of the app, the database behind it, and one token per kind of caller."""

    client: httpx.AsyncClient
    database: Database
    wakes: WakeCounter
    admin: str
    nbo_officer: str
    gva_officer: str
    viewer: str

    async def post(self, path: str, token: str, body: object = None) -> httpx.Response:
        """POST `body` as JSON with `token` as the bearer."""
        return await self.client.post(path, json=body, headers=bearer(token))

    async def get(self, path: str, token: str, **params: str) -> httpx.Response:
        """GET with `token` as the bearer."""
        return await self.client.get(path, params=params, headers=bearer(token))

    async def raise_alert(self, **changes: object) -> int:
        """Raise the earthquake alert (with `changes`) as admin; its id."""
        response = await self.post(ALERTS, self.admin, EARTHQUAKE | changes)
        assert response.status_code == 202, response.text
        alert_id: int = response.json()["id"]
        return alert_id


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an API error body."""
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["message"]
    return error


async def materialise(database: Database, alert_id: int) -> None:
    """Put the alert's whole audience into the outbox, as the dispatcher would."""
    while True:
        async with database.session() as session:
            done = await materialisation.materialise_batch(session, alert_id, 2, NOW)
        if done.finished:
            return


async def send(database: Database, channel: Channel, count: int) -> list[int]:
    """Claim `count` queued deliveries of `channel` and mark them accepted by the provider."""
    async with database.session() as session:
        claimed = await outbox.claim(session, channel, count, "worker-1", NOW, LEASE)
        for delivery in claimed:
            await outbox.mark_sent(session, delivery.id, f"SM{delivery.id:032d}", NOW)
    assert len(claimed) == count
    return [delivery.id for delivery in claimed]


async def acknowledge(database: Database, alert_id: int, person_id: str, response: str) -> None:
    """Record an answer for `person_id` straight in the recipient row (replies are not under test)."""
    async with database.session() as session:
        person = select(PERSON.c.id).where(PERSON.c.person_id == person_id).scalar_subquery()
        await session.execute(
            update(RECIPIENT)
            .where(RECIPIENT.c.alert_id == alert_id, RECIPIENT.c.person == person)
            .values(response=response, first_response_at=NOW, last_response_at=NOW)
        )


@pytest.fixture
async def api(database: Database) -> AsyncIterator[Api]:
    """The app on a seeded database (N00004 deactivated), with admin, officer and viewer tokens."""
    await seed(database, ROSTER)
    async with database.session() as session:
        await session.execute(
            update(PERSON).where(PERSON.c.person_id == "N00004").values(active=False)
        )
        issued = [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO"], actor="test"),
            await tokens.create_token(session, "gva", Role.OFFICER, ["GVA"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
        ]
    wakes = WakeCounter()
    app = create_app(database, wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, database, wakes, *issued)


async def test_no_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    """A request without Authorization is refused with 401, WWW-Authenticate and the error body."""
    response = await api.client.get(ALERTS)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer ntf_not-a-token", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_unknown_token_is_401(api: Api, header: str) -> None:
    """An unknown bearer token, another scheme or an empty token is refused with 401."""
    response = await api.client.post(ALERTS, json=EARTHQUAKE, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "unauthorized"
    assert api.wakes.calls == 0


async def test_admin_raises_an_alert(api: Api) -> None:
    """POST by an admin answers 202 with the new alert, wakes the dispatcher once and audits."""
    response = await api.post(ALERTS, api.admin, EARTHQUAKE | {"kind": "drill"})
    assert response.status_code == 202
    body = response.json()
    assert set(body) >= {"id", "code", "kind", "status", "recipients"}
    assert isinstance(body["id"], int)
    assert len(body["code"]) == 4
    assert body["kind"] == "drill"
    assert body["status"] == "dispatching"
    assert body["recipients"] == NBO_ACTIVE
    assert response.headers["Location"] == f"{ALERTS}/{body['id']}"
    assert api.wakes.calls == 1
    async with api.database.session() as session:
        entries = (
            (
                await session.execute(
                    select(AuditEntry).where(col(AuditEntry.action) == "alert.raise")
                )
            )
            .scalars()
            .all()
        )
    assert [(entry.actor, entry.target) for entry in entries] == [("admin", f"alert:{body['id']}")]


async def test_recipients_count_only_the_active_people_named(api: Api) -> None:
    """A group and a person by id are counted once each, inactive people not at all."""
    response = await api.post(
        ALERTS, api.admin, EARTHQUAKE | {"groups": ["wardens"], "people": ["N00002", "N00004"]}
    )
    assert response.status_code == 202
    assert response.json()["recipients"] == 3  # N00000, N00001 (wardens) and N00002


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": None}, "title"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"stations": ["ZZZ"]}, "stations"),
        ({"groups": ["no-such-group"]}, "groups"),
        ({"people": ["X99999"]}, "people"),
        ({"colour": "red"}, "colour"),
        ({"channels": ["fax"]}, "channels"),
        ({"channels": ["whatsapp"]}, "channels"),  # a person's choice, in the roster
    ],
)
async def test_invalid_field_is_422_naming_it(
    api: Api, changes: dict[str, object], field: str
) -> None:
    """A bad or unknown field is refused with 422 and `field` naming it; nothing is raised."""
    body = {key: value for key, value in (EARTHQUAKE | changes).items() if value is not None}
    response = await api.post(ALERTS, api.admin, body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert api.wakes.calls == 0
    listed = await api.get(ALERTS, api.admin)
    assert listed.json() == []


@pytest.mark.parametrize("content", [b"", b"title=Earthquake", b"{'title':", b"\xff\xfe{", b"[]"])
async def test_body_that_is_not_a_json_object_is_refused(api: Api, content: bytes) -> None:
    """A body that is not JSON, or not an object, is refused with 422 naming `body`."""
    response = await api.client.post(
        ALERTS, content=content, headers=bearer(api.admin) | {"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert error_of(response)["field"] == "body"


async def test_oversized_body_is_413(api: Api) -> None:
    """A body over 64 KiB (`http.max_body_bytes`) is refused with 413 before it is parsed."""
    response = await api.post(ALERTS, api.admin, EARTHQUAKE | {"message": "x" * 70_000})
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


async def test_officer_may_alert_only_their_stations(api: Api) -> None:
    """A GVA officer is refused NBO (and a person of NBO is unknown to them) but may alert GVA."""
    refused = await api.post(ALERTS, api.gva_officer, EARTHQUAKE)
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "forbidden"
    by_person = await api.post(
        ALERTS, api.gva_officer, EARTHQUAKE | {"stations": ["GVA"], "people": ["N00000"]}
    )
    assert by_person.status_code == 422
    assert error_of(by_person)["field"] == "people"
    allowed = await api.post(ALERTS, api.gva_officer, EARTHQUAKE | {"stations": ["gva"]})
    assert allowed.status_code == 202
    assert allowed.json()["recipients"] == 1
    assert api.wakes.calls == 1


async def test_viewer_reads_but_does_not_raise(api: Api) -> None:
    """A viewer token is refused POST with 403 but may list and read alerts."""
    alert_id = await api.raise_alert()
    refused = await api.post(ALERTS, api.viewer, EARTHQUAKE)
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "forbidden"
    listed = await api.get(ALERTS, api.viewer)
    assert listed.status_code == 200
    assert [alert["id"] for alert in listed.json()] == [alert_id]
    shown = await api.get(f"{ALERTS}/{alert_id}", api.viewer)
    assert shown.status_code == 200


async def test_alert_shows_counts_per_channel_and_answers(api: Api) -> None:
    """GET of an alert has the documented keys, with deliveries per channel and state and answers."""
    alert_id = await api.raise_alert(severity="extreme")
    await materialise(api.database, alert_id)
    await send(api.database, Channel.SMS, 3)
    await send(api.database, Channel.EMAIL, 1)
    await acknowledge(api.database, alert_id, "N00000", "safe")
    await acknowledge(api.database, alert_id, "N00001", "help")
    response = await api.get(f"{ALERTS}/{alert_id}", api.nbo_officer)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "id",
        "kind",
        "severity",
        "title",
        "status",
        "created_at",
        "created_by",
        "recipients",
        "acknowledged",
        "responses",
        "channels",
    }
    assert (body["id"], body["kind"], body["severity"], body["title"]) == (
        alert_id,
        "emergency",
        "extreme",
        "Earthquake",
    )
    assert body["status"] == "dispatching"
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert body["created_by"] == "admin"
    assert body["recipients"] == NBO_ACTIVE
    assert body["acknowledged"] == 2
    assert body["responses"] == {"safe": 1, "help": 1, "other": 0}
    assert set(body["channels"]) == {"sms", "email", "whatsapp", "voice"}
    sms, email = body["channels"]["sms"], body["channels"]["email"]
    assert set(sms) >= {"queued", "sent", "delivered", "failed"}
    assert set(email) >= {"queued", "sent", "delivered", "failed"}
    assert (sms["queued"], sms["sent"], sms["delivered"], sms["failed"]) == (1, 3, 0, 0)
    assert (email["queued"], email["sent"], email["delivered"], email["failed"]) == (3, 1, 0, 0)


async def test_unknown_alert_is_404(api: Api) -> None:
    """GET of an alert id that does not exist is 404 with the error body; a non-number is 422."""
    response = await api.get(f"{ALERTS}/999999", api.admin)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    malformed = await api.get(f"{ALERTS}/abc", api.admin)
    assert malformed.status_code == 422
    assert error_of(malformed)["field"] == "id"


async def test_officer_of_another_station_cannot_read_an_alert(api: Api) -> None:
    """An NBO alert is 404 to the GVA officer, on the alert and on its recipients."""
    alert_id = await api.raise_alert()
    for path in (f"{ALERTS}/{alert_id}", f"{ALERTS}/{alert_id}/recipients"):
        response = await api.get(path, api.gva_officer)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


async def test_active_list_shows_only_what_the_caller_may_see(api: Api) -> None:
    """?status=active lists open alerts; an officer of another station does not see them."""
    nbo_alert = await api.raise_alert()
    gva_alert = await api.raise_alert(stations=["GVA"])
    everything = await api.get(ALERTS, api.admin, status="active")
    assert everything.status_code == 200
    assert [alert["id"] for alert in everything.json()] == [gva_alert, nbo_alert]
    assert everything.json()[1]["status"] == "dispatching"
    for_gva = await api.get(ALERTS, api.gva_officer, status="active")
    assert [alert["id"] for alert in for_gva.json()] == [gva_alert]
    for_nbo = await api.get(ALERTS, api.nbo_officer, status="active")
    assert [alert["id"] for alert in for_nbo.json()] == [nbo_alert]


async def test_recipients_list_one_row_per_person(api: Api) -> None:
    """GET recipients gives each person's station, answer and latest state on each channel."""
    alert_id = await api.raise_alert(stations=["NBO", "GVA"])
    await materialise(api.database, alert_id)
    await send(api.database, Channel.SMS, 2)
    await acknowledge(api.database, alert_id, "N00000", "safe")
    response = await api.get(f"{ALERTS}/{alert_id}/recipients", api.admin)
    assert response.status_code == 200
    rows = response.json()
    assert [row["person_id"] for row in rows] == ["G00001", "N00000", "N00001", "N00002", "N00003"]
    keys = {"person_id", "name", "station", "phone", "response", "acknowledged_at", "channels"}
    assert all(set(row) == keys | {"latest_text"} for row in rows)
    by_id = {row["person_id"]: row for row in rows}
    assert by_id["G00001"]["name"] == "Hélène Dubois"
    assert by_id["G00001"]["station"] == "GVA"
    assert by_id["N00000"]["response"] == "safe"
    assert datetime.fromisoformat(by_id["N00000"]["acknowledged_at"]) == NOW
    assert by_id["N00003"]["response"] is None
    assert by_id["N00003"]["acknowledged_at"] is None
    states = sorted(row["channels"]["sms"] for row in rows)
    assert states == ["queued", "queued", "queued", "sent", "sent"]
    assert all(row["channels"]["email"] == "queued" for row in rows)


async def test_recipients_filter_by_station_and_acknowledgement(api: Api) -> None:
    """`station=` and `acknowledged=` narrow the recipients; `acknowledged=maybe` is 422."""
    alert_id = await api.raise_alert(stations=["NBO", "GVA"])
    await materialise(api.database, alert_id)
    await acknowledge(api.database, alert_id, "N00000", "help")
    path = f"{ALERTS}/{alert_id}/recipients"

    async def people(**params: str) -> list[str]:
        response = await api.get(path, api.admin, **params)
        assert response.status_code == 200
        return [row["person_id"] for row in response.json()]

    assert await people(station="gva") == ["G00001"]
    assert await people(acknowledged="false") == ["G00001", "N00001", "N00002", "N00003"]
    assert await people(acknowledged="true") == ["N00000"]
    assert await people(station="NBO", acknowledged="false") == ["N00001", "N00002", "N00003"]
    refused = await api.get(path, api.admin, acknowledged="maybe")
    assert refused.status_code == 422
    assert error_of(refused)["field"] == "acknowledged"


async def test_recipients_filter_by_answer_with_phone_numbers(api: Api) -> None:
    """`response=help` lists who needs help, with the number to call; `response=fine` is 422."""
    alert_id = await api.raise_alert(stations=["NBO", "GVA"])
    await materialise(api.database, alert_id)
    await acknowledge(api.database, alert_id, "N00000", "help")
    await acknowledge(api.database, alert_id, "N00001", "safe")
    path = f"{ALERTS}/{alert_id}/recipients"
    response = await api.get(path, api.admin, response="HELP")
    assert response.status_code == 200
    [row] = response.json()
    assert (row["person_id"], row["response"]) == ("N00000", "help")
    assert row["phone"].startswith("+254")
    safe = await api.get(path, api.admin, response="safe")
    assert [row["person_id"] for row in safe.json()] == ["N00001"]
    refused = await api.get(path, api.admin, response="fine")
    assert refused.status_code == 422
    assert error_of(refused)["field"] == "response"


async def test_cancel_stops_what_is_still_queued(api: Api) -> None:
    """POST cancel makes the alert cancelled and its queued deliveries cancelled; sent stay sent."""
    alert_id = await api.raise_alert()
    await materialise(api.database, alert_id)
    await send(api.database, Channel.SMS, 1)
    response = await api.post(f"{ALERTS}/{alert_id}/cancel", api.nbo_officer)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    body = (await api.get(f"{ALERTS}/{alert_id}", api.admin)).json()
    assert body["status"] == "cancelled"
    sms, email = body["channels"]["sms"], body["channels"]["email"]
    assert (sms["queued"], sms["sent"], sms["cancelled"]) == (0, 1, 3)
    assert (email["queued"], email["cancelled"]) == (0, NBO_ACTIVE)
    active = await api.get(ALERTS, api.admin, status="active")
    assert active.json() == []
    again = await api.post(f"{ALERTS}/{alert_id}/cancel", api.admin)
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"


async def test_officer_of_another_station_cannot_cancel(api: Api) -> None:
    """POST cancel on an NBO alert is 404 to a GVA officer, 403 to a viewer; nothing changes."""
    alert_id = await api.raise_alert()
    await materialise(api.database, alert_id)
    for token, status, code in (
        (api.gva_officer, 404, "not_found"),
        (api.viewer, 403, "forbidden"),
    ):
        response = await api.post(f"{ALERTS}/{alert_id}/cancel", token)
        assert response.status_code == status
        assert error_of(response)["code"] == code
    body = (await api.get(f"{ALERTS}/{alert_id}", api.admin)).json()
    assert body["status"] == "dispatching"
    assert body["channels"]["sms"]["queued"] == NBO_ACTIVE


async def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    """A wrong path or method gets the API's JSON error body, not plain text."""
    missing = await api.get("/api/v1/nothing-here", api.admin)
    wrong = await api.client.delete(ALERTS, headers=bearer(api.admin))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_unknown_status_filter_is_rejected(api: Api) -> None:
    """?status= takes only the documented values."""
    response = await api.get(ALERTS, api.admin, status="bogus")
    assert response.status_code == 422
    assert error_of(response)["field"] == "status"


async def test_recipients_count_is_the_audience_before_materialisation(api: Api) -> None:
    """Right after the 202, GET shows the same number of recipients the 202 announced."""
    alert_id = await api.raise_alert()
    response = await api.get(f"{ALERTS}/{alert_id}", api.admin)
    assert response.json()["recipients"] == NBO_ACTIVE


async def _audited(database: Database, action: str) -> list[tuple[str, str]]:
    """(actor, target) of the audit entries of `action`, oldest first."""
    query = select(AuditEntry).where(col(AuditEntry.action) == action).order_by(col(AuditEntry.id))
    async with database.session() as session:
        return [(entry.actor, entry.target) for entry in (await session.execute(query)).scalars()]


async def test_close_by_an_officer_of_its_station(api: Api) -> None:
    """POST close by the station's officer: closed, queued deliveries cancelled, sent ones kept,
    gone from ?status=active, audited once; closing again is 200 with the same body."""
    alert_id = await api.raise_alert()
    await materialise(api.database, alert_id)
    await send(api.database, Channel.SMS, 1)
    response = await api.post(f"{ALERTS}/{alert_id}/close", api.nbo_officer)
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    body = (await api.get(f"{ALERTS}/{alert_id}", api.admin)).json()
    assert body["status"] == "closed"
    sms, email = body["channels"]["sms"], body["channels"]["email"]
    assert (sms["queued"], sms["sent"], sms["cancelled"]) == (0, 1, 3)
    assert (email["queued"], email["cancelled"]) == (0, NBO_ACTIVE)
    assert (await api.get(ALERTS, api.admin, status="active")).json() == []
    assert [a["id"] for a in (await api.get(ALERTS, api.admin, status="closed")).json()] == [
        alert_id
    ]
    again = await api.post(f"{ALERTS}/{alert_id}/close", api.admin)
    assert (again.status_code, again.json()) == (200, response.json())
    assert await _audited(api.database, "alert.close") == [("nbo", f"alert:{alert_id}")]


async def test_closing_a_cancelled_alert_leaves_it_cancelled(api: Api) -> None:
    """A cancelled alert already takes no answers: close answers 200 and it stays cancelled."""
    alert_id = await api.raise_alert()
    await api.post(f"{ALERTS}/{alert_id}/cancel", api.admin)
    response = await api.post(f"{ALERTS}/{alert_id}/close", api.nbo_officer)
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    assert await _audited(api.database, "alert.close") == []


async def test_close_by_another_station_is_404_and_by_a_viewer_403(api: Api) -> None:
    """An NBO alert is to a GVA officer what a missing alert is (404); a viewer gets 403 for
    any id, before it is looked up; nothing changes."""
    alert_id = await api.raise_alert()
    await materialise(api.database, alert_id)
    other = await api.post(f"{ALERTS}/{alert_id}/close", api.gva_officer)
    missing = await api.post(f"{ALERTS}/{alert_id + 1}/close", api.gva_officer)
    assert (other.status_code, missing.status_code) == (404, 404)
    assert error_of(other) == error_of(missing) | {
        "message": error_of(missing)["message"].replace(str(alert_id + 1), str(alert_id))
    }
    for target in (alert_id, alert_id + 1):
        refused = await api.post(f"{ALERTS}/{target}/close", api.viewer)
        assert refused.status_code == 403
        assert error_of(refused)["code"] == "forbidden"
    body = (await api.get(f"{ALERTS}/{alert_id}", api.admin)).json()
    assert body["status"] == "dispatching"
    assert body["channels"]["sms"]["queued"] == NBO_ACTIVE


async def test_fallback_counts_who_gets_the_channel_not_chosen(api: Api) -> None:
    """SMS only, to NBO where one person has no phone: the 202 and GET say 1 got e-mail instead,
    before and after the outbox is filled; e-mail only, one without an address gets SMS."""
    async with api.database.session() as session:
        await session.execute(
            update(PERSON).where(PERSON.c.person_id == "N00001").values(phone=None)
        )
        await session.execute(
            update(PERSON).where(PERSON.c.person_id == "N00002").values(email=None)
        )
    response = await api.post(ALERTS, api.admin, EARTHQUAKE | {"channels": ["sms"]})
    assert response.status_code == 202
    assert (response.json()["recipients"], response.json()["fallback"]) == (
        NBO_ACTIVE,
        {"email": 1},
    )
    alert_id = response.json()["id"]
    assert (await api.get(f"{ALERTS}/{alert_id}", api.admin)).json()["fallback"] == {"email": 1}
    await materialise(api.database, alert_id)
    body = (await api.get(f"{ALERTS}/{alert_id}", api.admin)).json()
    assert body["fallback"] == {"email": 1}
    assert body["channels"]["email"]["queued"] == 1
    response = await api.post(ALERTS, api.admin, EARTHQUAKE | {"channels": ["email"]})
    assert response.json()["fallback"] == {"sms": 1, "whatsapp": 0, "voice": 0}
    response = await api.post(ALERTS, api.admin, EARTHQUAKE)
    assert response.json()["fallback"] == {}


async def test_alert_shows_its_audience_as_given(api: Api) -> None:
    """An alert raised for one person by id shows that person as its audience, beside its scope."""
    alert_id = await api.raise_alert(stations=[], people=["G00001"])
    body = (await api.get(f"{ALERTS}/{alert_id}", api.admin)).json()
    assert body["audience"] == {"stations": [], "groups": [], "people": ["G00001"]}
    assert body["stations"] == ["GVA"]


async def _many_alerts(database: Database, count: int) -> None:
    """`count` alerts, alternately of NBO and of GVA, written straight to the table."""
    rows = [
        {
            "code": f"T{index:05d}",
            "kind": "test",
            "severity": "minor",
            "title": f"Alert {index}",
            "message": "A test.",
            "messages": {},
            "audience": {"stations": [station], "groups": [], "people": [], "scope": [station]},
            "channels": ["sms"],
            "status": "dispatched",
            "priority": 2,
            "created_by": "test",
            "created_at": NOW,
        }
        for index in range(count)
        for station in ["NBO" if index % 2 else "GVA"]
    ]
    async with database.session() as session:
        await session.execute(ALERT.insert(), rows)


async def test_alert_list_pages_past_100(api: Api) -> None:
    """limit (up to 1000), offset and before=ID page through every alert, newest first, for an
    admin and for an officer of one station (whose pages hold only their alerts)."""
    await _many_alerts(api.database, 1300)
    every = [row["id"] for row in (await api.get(ALERTS, api.admin, limit="1000")).json()]
    rest = [row["id"] for row in (await api.get(ALERTS, api.admin, offset="1000")).json()]
    assert len((await api.get(ALERTS, api.admin)).json()) == 100
    assert len(every) == 1000
    assert every == sorted(every, reverse=True)
    assert rest == list(range(every[-1] - 1, every[-1] - 101, -1))
    older = (await api.get(ALERTS, api.admin, before=str(every[499]), limit="3")).json()
    assert [row["id"] for row in older] == every[500:503]
    nbo: list[int] = []
    while page := (
        await api.get(ALERTS, api.nbo_officer, limit="200", offset=str(len(nbo)))
    ).json():
        assert {tuple(row["stations"]) for row in page} == {("NBO",)}
        nbo += [row["id"] for row in page]
    assert len(nbo) == 650
    assert nbo == sorted(nbo, reverse=True)
    cursor = (await api.get(ALERTS, api.nbo_officer, before=str(nbo[599]), limit="1000")).json()
    assert [row["id"] for row in cursor] == nbo[600:]


@pytest.mark.parametrize(
    ("name", "value"), [("limit", "0"), ("limit", "1001"), ("offset", "-1"), ("before", "x")]
)
async def test_alert_list_refuses_bad_paging(api: Api, name: str, value: str) -> None:
    """limit outside 1..1000, a negative offset or a cursor that is no id is 422 naming it."""
    response = await api.get(ALERTS, api.admin, **{name: value})
    assert response.status_code == 422
    assert error_of(response)["field"] == name
