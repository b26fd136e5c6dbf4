"""CAP 1.2 through the API, on SQLite and PostgreSQL: alerts out as CAP, CAP in as drafts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from notifier.cap.message import CapMsgType, CapStatus
from notifier.cap.reading import read_cap
from notifier.cap.xml_safety import MAX_DOCUMENT_BYTES, parse_cap_xml
from notifier.domain import Role
from notifier.settings import Settings
from notifier.store import materialisation, tokens
from notifier.store.engine import Database
from notifier.store.tables import ALERT, CAP_IMPORT, metadata
from notifier.web.app import create_app
from tests.cap_stations import EXPECTED, SETTINGS, example, seed_cap_world
from tests.web.wake import WakeCounter

ALERTS = "/api/v1/alerts"
IMPORT = "/api/v1/cap"
AUDIT_LOG = metadata.tables["audit_log"]
CAP_XML = {"Content-Type": "application/cap+xml"}
QUAKE = {
    "title": "Earthquake",
    "message": "Leave the building by the stairs.",
    "messages": {"fr": "Quittez le bâtiment par l'escalier."},
    "stations": ["NBO"],
    "severity": "extreme",
}


@dataclass(frozen=True, slots=True)
class Api:
    """A client of the app, its database, its dispatcher's wake-ups, and tokens."""

    client: httpx.AsyncClient
    database: Database
    wakes: WakeCounter
    admin: str
    nbo: str
    gva: str
    viewer: str

    async def post(
        self, path: str, token: str, *, json: object = None, content: bytes | None = None
    ) -> httpx.Response:
        """POST JSON or raw bytes (as CAP XML) with `token` as the bearer."""
        headers = {"Authorization": f"Bearer {token}"} | (CAP_XML if content is not None else {})
        return await self.client.post(path, json=json, content=content, headers=headers)

    async def get(self, path: str, token: str, **params: str) -> httpx.Response:
        """GET with `token` as the bearer."""
        headers = {"Authorization": f"Bearer {token}"}
        return await self.client.get(path, params=params, headers=headers)

    async def raise_alert(self, **changes: object) -> int:
        """Raise the earthquake alert (with `changes`) as admin; its id."""
        response = await self.post(ALERTS, self.admin, json=QUAKE | changes)
        assert response.status_code == 202, response.text
        alert_id: int = response.json()["id"]
        return alert_id

    async def count(self, table: Any) -> int:
        """The rows of a table."""
        async with self.database.session(read_only=True) as session:
            found: int = await session.scalar(select(func.count()).select_from(table)) or 0
        return found


@pytest.fixture
async def api(database: Database) -> AsyncIterator[Api]:
    """The app with `cap.sender` and geocodes set, over stations around the examples' areas."""
    await seed_cap_world(database)
    async with database.session() as session:
        issued = [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO", "ALPINE"], actor="t"),
            await tokens.create_token(session, "gva", Role.OFFICER, ["GVA"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
        ]
    wakes = WakeCounter()
    app = create_app(database, SETTINGS, wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, database, wakes, *issued)


@pytest.mark.parametrize(
    ("kind", "status"),
    [("emergency", CapStatus.ACTUAL), ("drill", CapStatus.EXERCISE), ("test", CapStatus.TEST)],
)
async def test_every_kind_exports_valid_cap(api: Api, kind: str, status: CapStatus) -> None:
    """Each kind is a valid CAP 1.2 Alert with its status, sender, areas and languages."""
    alert_id = await api.raise_alert(kind=kind)
    response = await api.get(f"{ALERTS}/{alert_id}/cap", api.nbo)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/cap+xml"
    parse_cap_xml(response.content)  # raises unless valid against the shipped schema
    message = read_cap(response.content)
    assert (message.status, message.msg_type) == (status, CapMsgType.ALERT)
    assert message.sender == "ens@example.org"
    assert message.identifier.startswith(f"ens@example.org:alert:{alert_id}:")
    assert [info.language for info in message.infos] == ["en", "fr"]
    assert [area.area_desc for area in message.areas] == [
        "United Nations Office at Nairobi (NBO)"
    ] * 2
    assert message.infos[0].instruction == QUAKE["message"]
    again = await api.get(f"{ALERTS}/{alert_id}/cap", api.admin)
    assert again.content == response.content  # the same document, identifier and all


async def test_a_cancelled_alert_exports_as_a_cancel_of_the_original(api: Api) -> None:
    """Once cancelled, the document is a valid Cancel whose references name the original."""
    alert_id = await api.raise_alert(kind="drill")
    original = read_cap((await api.get(f"{ALERTS}/{alert_id}/cap", api.admin)).content)
    assert (await api.post(f"{ALERTS}/{alert_id}/cancel", api.admin)).status_code == 200
    response = await api.get(f"{ALERTS}/{alert_id}/cap", api.admin)
    parse_cap_xml(response.content)
    cancel = read_cap(response.content)
    assert (cancel.status, cancel.msg_type) == (CapStatus.EXERCISE, CapMsgType.CANCEL)
    assert cancel.identifier == f"{original.identifier}:cancel"
    assert cancel.identifier != original.identifier
    sent = original.sent.isoformat(timespec="seconds")
    assert cancel.references == f"{original.sender},{original.identifier},{sent}"
    assert cancel.sent >= original.sent


async def test_another_stations_officer_gets_404_as_for_no_alert(api: Api) -> None:
    """An officer of GVA asking for an NBO alert's CAP gets the answer of an unknown id."""
    alert_id = await api.raise_alert()
    theirs = await api.get(f"{ALERTS}/{alert_id}/cap", api.gva)
    nothing = await api.get(f"{ALERTS}/999999/cap", api.gva)
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json()["error"]["code"] == nothing.json()["error"]["code"] == "not_found"
    assert (await api.get(f"{ALERTS}/{alert_id}/cap", api.viewer)).status_code == 200


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_the_specifications_examples_import_as_drafts(api: Api, name: str) -> None:
    """A.2, A.3, A.4 make drafts for the stations in their areas; nothing is dispatched."""
    response = await api.post(IMPORT, api.admin, content=example(name))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] is True
    assert (body["status"], body["kind"]) == ("draft", "emergency")
    assert body["stations"] == EXPECTED[name]
    assert response.headers["Location"] == f"{ALERTS}/{body['id']}"
    assert api.wakes.calls == 0
    async with api.database.session() as session:
        assert await materialisation.alerts_to_materialise(session) == []
    exported = await api.get(f"{ALERTS}/{body['id']}/cap", api.admin)
    assert read_cap(exported.content).status is CapStatus.DRAFT


async def test_an_imported_draft_takes_its_words_from_the_message(api: Api) -> None:
    """A.4: the headline is the title, English and Spanish texts from the two info blocks."""
    body = (await api.post(IMPORT, api.admin, content=example("AmberAlert"))).json()
    async with api.database.session(read_only=True) as session:
        row = (await session.execute(select(ALERT).where(ALERT.c.id == body["id"]))).one()
    assert row.title == "Amber Alert in Los Angeles County"
    assert row.severity == "severe"
    assert set(row.messages) == {"en", "es"}
    assert row.message == row.messages["en"]
    assert row.messages["en"].startswith("DATE/TIME: 06/11/03, 1915 HRS.")
    assert row.messages["es"].startswith("DATE/TIME: 06/11/03, 1915 HORAS.")


async def test_the_same_message_twice_makes_one_draft(api: Api) -> None:
    """The second import answers 200 with the first draft; one alert, one import is stored."""
    first = await api.post(IMPORT, api.admin, content=example("ThunderstormWarning"))
    second = await api.post(IMPORT, api.admin, content=example("ThunderstormWarning"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["created"] is False
    assert (await api.count(ALERT), await api.count(CAP_IMPORT)) == (1, 1)


async def test_invalid_cap_is_422_naming_the_element_and_writes_nothing(api: Api) -> None:
    """A value outside CAP's list is refused with the element named; no alert is stored."""
    bad = example("ThunderstormWarning").replace(b"<urgency>Immediate", b"<urgency>Soon")
    response = await api.post(IMPORT, api.admin, content=bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "body"
    assert "urgency" in error["message"]
    not_xml = await api.post(IMPORT, api.admin, content=b"<alert>")
    assert not_xml.status_code == 422
    assert "not well-formed" in not_xml.json()["error"]["message"]
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">]>'
        + example("AmberAlert")[example("AmberAlert").index(b"<alert") :]
    )
    hostile = await api.post(IMPORT, api.admin, content=laughs)
    assert hostile.status_code == 422
    assert "DOCTYPE" in hostile.json()["error"]["message"]
    assert (await api.count(ALERT), await api.count(CAP_IMPORT)) == (0, 0)


async def test_no_station_in_the_areas_is_422_and_writes_nothing(api: Api) -> None:
    """A.1 draws no area; GVA's officer has no station in A.2's: both refused, nothing stored."""
    homeland = await api.post(IMPORT, api.admin, content=example("HomelandAlert"))
    assert homeland.status_code == 422
    assert "no station" in homeland.json()["error"]["message"]
    storm = await api.post(IMPORT, api.gva, content=example("ThunderstormWarning"))
    assert storm.status_code == 422
    assert (await api.count(ALERT), await api.count(CAP_IMPORT)) == (0, 0)


async def test_an_officer_drafts_for_their_own_stations_only(api: Api) -> None:
    """A.2 holds ALPINE and SONORA; the officer of NBO and ALPINE gets a draft for ALPINE."""
    response = await api.post(IMPORT, api.nbo, content=example("ThunderstormWarning"))
    assert response.status_code == 201
    assert response.json()["stations"] == ["ALPINE"]
    assert (await api.post(IMPORT, api.viewer, content=example("AmberAlert"))).status_code == 403


@pytest.mark.parametrize(
    ("status", "answer", "kind"),
    [(b"Exercise", 201, "drill"), (b"Test", 201, "test"), (b"System", 422, None)],
)
async def test_the_messages_status_gives_the_kind(
    api: Api, status: bytes, answer: int, kind: str | None
) -> None:
    """Exercise makes a drill, Test a test; a System message is refused by name."""
    document = example("EarthquakeReport").replace(b"<status>Actual", b"<status>" + status)
    response = await api.post(IMPORT, api.admin, content=document)
    assert response.status_code == answer, response.text
    if kind is None:
        assert "status" in response.json()["error"]["message"]
    else:
        assert response.json()["kind"] == kind


async def test_a_body_over_one_mebibyte_is_413_and_one_under_is_read(api: Api) -> None:
    """Documents up to 1 MiB are read, past the API's 64 KiB for JSON; larger ones get 413."""
    document = example("EarthquakeReport")
    padded = document.replace(b"</alert>", b" " * 200_000 + b"</alert>")
    assert (await api.post(IMPORT, api.admin, content=padded)).status_code == 201
    huge = document.replace(b"</alert>", b" " * MAX_DOCUMENT_BYTES + b"</alert>")
    response = await api.post(IMPORT, api.admin, content=huge)
    assert response.status_code == 413
    assert await api.count(ALERT) == 1


async def test_a_draft_is_dispatched_only_once_sent(api: Api) -> None:
    """A draft waits; POST …/send raises it (202), wakes the dispatcher, audits who; then 409."""
    draft = (await api.post(IMPORT, api.admin, content=example("ThunderstormWarning"))).json()
    listed = await api.get(ALERTS, api.admin, status="active")
    assert listed.json() == []
    assert [row["id"] for row in (await api.get(ALERTS, api.admin, status="draft")).json()] == [
        draft["id"]
    ]
    for officer in (api.gva, api.nbo):  # NBO's officer has ALPINE, but not SONORA
        assert (await api.post(f"{ALERTS}/{draft['id']}/send", officer)).status_code == 404
    assert (await api.post(f"{ALERTS}/{draft['id']}/send", api.viewer)).status_code == 403
    sent = await api.post(f"{ALERTS}/{draft['id']}/send", api.admin)
    assert sent.status_code == 202, sent.text
    assert (sent.json()["status"], sent.json()["recipients"]) == ("dispatching", 2)
    assert api.wakes.calls == 1
    async with api.database.session() as session:
        assert [
            alert_id for alert_id, _ in await materialisation.alerts_to_materialise(session)
        ] == [draft["id"]]
        actors = (
            await session.execute(
                select(AUDIT_LOG.c.actor).where(AUDIT_LOG.c.action == "alert.send_draft")
            )
        ).scalars()
        assert list(actors) == ["admin"]
    again = await api.post(f"{ALERTS}/{draft['id']}/send", api.admin)
    assert again.status_code == 409
    raised = await api.raise_alert()
    assert (await api.post(f"{ALERTS}/{raised}/send", api.admin)).status_code == 409


RULES = Settings.model_validate(
    SETTINGS.model_dump()
    | {
        "cap": SETTINGS.cap.model_dump()
        | {
            "rules": [
                {
                    "status": "Actual",
                    "severity": "Severe",
                    "certainty": "Observed",
                    "action": "send",
                },
                {"status": ["Exercise", "System"], "action": "ignore"},
            ]
        }
    }
)


@pytest.fixture
async def ruled(api: Api) -> AsyncIterator[Api]:
    """The same app and tokens, with `cap.rules` that send A.2 at once and ignore exercises."""
    wakes = WakeCounter()
    app = create_app(api.database, RULES, wake_dispatcher=wakes)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield replace(api, client=client, wakes=wakes)


async def test_a_rule_sends_the_most_serious_at_once(ruled: Api) -> None:
    """A.2 (Actual, Severe, Observed) is raised at once, the dispatcher woken, the rule audited."""
    response = await ruled.post(IMPORT, ruled.admin, content=example("ThunderstormWarning"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["rule"], body["created"]) == ("dispatching", 1, True)
    assert ruled.wakes.calls == 1
    async with ruled.database.session(read_only=True) as session:
        details = (
            await session.execute(
                select(AUDIT_LOG.c.details).where(AUDIT_LOG.c.action == "alert.send_draft")
            )
        ).scalar_one()
    assert details["cap_rule"] == 1
    amber = await ruled.post(IMPORT, ruled.admin, content=example("AmberAlert"))
    assert (amber.json()["status"], amber.json()["rule"]) == ("draft", None)  # Likely


@pytest.mark.parametrize("status", [b"Exercise", b"System"])
async def test_a_rule_ignores_what_is_not_actual(ruled: Api, status: bytes) -> None:
    """An exercise, and a System message otherwise refused, are ignored: 200, nothing written."""
    document = example("EarthquakeReport").replace(b"<status>Actual", b"<status>" + status)
    response = await ruled.post(IMPORT, ruled.admin, content=document)
    assert response.status_code == 200
    assert response.json() == {
        "ignored": True,
        "rule": 2,
        "message": "ignored by rule 2 of cap.rules: nothing was written",
    }
    assert (await ruled.count(ALERT), await ruled.count(CAP_IMPORT)) == (0, 0)
