"""POST /api/v1/alerts/preview: counts, words, cost and time of an alert before it is raised."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from notifier.domain import Role
from notifier.settings import load_settings
from notifier.sms_length import sms_length
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT, AuditEntry
from notifier.web.app import create_app
from tests.seeding import nairobi_people, seed

PREVIEW = "/api/v1/alerts/preview"
ALERTS = "/api/v1/alerts"
EARTHQUAKE = {"title": "Earthquake", "message": "Leave the building.", "stations": ["NBO"]}
ROSTER = [
    *nairobi_people(2),  # en, a Kenyan phone and an address
    "A1,Amal,a1@example.org,+41791234501,NBO,ar,",  # a Swiss phone: the other country's price
    "A2,Karim,,+254722000222,NBO,ar,",
    "F1,Claire,f1@example.org,,NBO,fr,",
    "U1,Opted Out,,+254722000333,NBO,en,",
    "X1,Gone,x1@example.org,+254722000444,NBO,en,",
    "G00001,Hélène Dubois,helene@example.org,+41791234567,GVA,fr,wardens",
]
ENVIRONMENT = {
    "NOTIFIER_COSTS__CURRENCY": "CHF",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICE": "0.05",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__KE": "0.02",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__CH": "0.08",
    "NOTIFIER_COSTS__EMAIL_PRICE": "0.001",
    "NOTIFIER_SMS__RATE_PER_SECOND": "2",
    "NOTIFIER_EMAIL__RATE_PER_SECOND": "4",
}


@dataclass(frozen=True, slots=True)
class Site:
    """The app over the roster above, and a token per kind of caller."""

    client: httpx.AsyncClient
    database: Database
    admin: str
    nbo_officer: str
    gva_officer: str
    viewer: str

    async def post(self, path: str, token: str, body: object) -> httpx.Response:
        """POST `body` as JSON with `token` as the bearer."""
        return await self.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def site(database: Database) -> AsyncIterator[Site]:
    """U1 has opted out of SMS and has no address; X1 is no longer on the roster."""
    await seed(database, ROSTER)
    async with database.session() as session:
        await session.execute(
            update(PERSON).where(PERSON.c.person_id == "U1").values(sms_opted_out=True)
        )
        await session.execute(update(PERSON).where(PERSON.c.person_id == "X1").values(active=False))
        issued = [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO"], actor="test"),
            await tokens.create_token(session, "gva", Role.OFFICER, ["GVA"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
        ]
    app = create_app(database, load_settings(None, ENVIRONMENT))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Site(client, database, *issued)


async def _rows(database: Database) -> dict[str, int]:
    """Rows of the tables raising an alert writes to."""
    counts: dict[str, int] = {}
    async with database.session(read_only=True) as session:
        for name, table in [("alert", ALERT), ("recipient", RECIPIENT), ("delivery", DELIVERY)]:
            counts[name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
        audit = select(func.count()).select_from(AuditEntry)
        counts["audit_log"] = int(await session.scalar(audit) or 0)
    return counts


def _by_language(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["language"]: row for row in body["languages"]}


async def test_preview_counts_people_per_channel_and_language(site: Site) -> None:
    """Five reachable people, U1 unreachable, X1 not counted; words, segments, cost and time."""
    response = await site.post(PREVIEW, site.nbo_officer, EARTHQUAKE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["recipients"], body["unreachable"]) == (5, 1)
    assert body["channels"] == {
        "sms": 4,
        "email": 4,
        "whatsapp": 0,
        "voice": 0,
    }  # N00000, N00001, A1 both; A2 SMS; F1 mail
    languages = _by_language(body)
    assert [row["language"] for row in body["languages"]] == ["ar", "en", "fr"]
    assert {code: row["people"] for code, row in languages.items()} == {"ar": 2, "en": 2, "fr": 1}
    for row in languages.values():
        length = sms_length(row["sms"]["text"])
        assert (row["sms"]["encoding"], row["sms"]["segments"]) == (
            length.encoding,
            length.segments,
        )
        assert "Earthquake" in row["sms"]["text"]
        assert "Leave the building." in row["sms"]["text"]
        assert "Earthquake" in row["email_subject"]
    assert languages["ar"]["sms"]["encoding"] == "UCS-2"
    assert languages["en"]["sms"]["encoding"] == "GSM-7"
    arabic, english = languages["ar"]["sms"]["segments"], languages["en"]["sms"]["segments"]
    assert body["sms_segments"] == 2 * english + 2 * arabic
    # Kenya 0.02 a segment (N00000, N00001, A2), Switzerland 0.08 (A1); 0.001 an e-mail.
    sms = Decimal("0.02") * (2 * english + arabic) + Decimal("0.08") * arabic
    assert body["cost"] == {
        "currency": "CHF",
        "sms": float(sms),
        "email": 0.004,
        "whatsapp": 0.0,
        "total": float(sms + Decimal("0.004")),
    }
    assert body["seconds"] == {"sms": 2.0, "email": 1.0, "total": 2.0}  # 4 at 2/s, 4 at 4/s


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (
            ["sms"],
            {"sms": 4, "email": 1, "whatsapp": 0, "voice": 0},
        ),  # F1 has no phone: e-mail carries it
        (
            ["email"],
            {"sms": 1, "email": 4, "whatsapp": 0, "voice": 0},
        ),  # A2 has no address: SMS carries it
    ],
)
async def test_the_other_channel_carries_the_alert_to_those_the_chosen_one_cannot_reach(
    site: Site, channels: list[str], expected: dict[str, int]
) -> None:
    """The fallback rule of materialisation: the unchosen channel for those only it reaches."""
    response = await site.post(PREVIEW, site.admin, EARTHQUAKE | {"channels": channels})
    assert response.status_code == 200, response.text
    assert response.json()["channels"] == expected
    assert response.json()["recipients"] == 5


async def test_text_per_language_is_used_and_preview_writes_nothing(site: Site) -> None:
    """A French text reaches the French; a preview leaves alerts, outbox and audit log alone."""
    before = await _rows(site.database)
    body = EARTHQUAKE | {"messages": {"fr": "Quittez le bâtiment."}, "kind": "drill"}
    response = await site.post(PREVIEW, site.nbo_officer, body)
    assert response.status_code == 200, response.text
    languages = _by_language(response.json())
    assert "Quittez le bâtiment." in languages["fr"]["sms"]["text"]
    assert "Leave the building." not in languages["fr"]["sms"]["text"]
    assert "Leave the building." in languages["en"]["sms"]["text"]
    assert await _rows(site.database) == before
    raised = await site.post(ALERTS, site.nbo_officer, body)
    assert raised.status_code == 202
    # The 202 counts everyone named, before materialisation sets the unreachable apart.
    preview = response.json()
    assert raised.json()["recipients"] == preview["recipients"] + preview["unreachable"]
    assert (await _rows(site.database))["alert"] == before["alert"] + 1


@pytest.mark.parametrize(
    "changes",
    [
        {"stations": ["GVA"]},  # the station of another officer
        {"people": ["G00001"]},  # a person of another station
        {"people": ["G99999"]},  # a person who does not exist
        {"groups": ["wardens"]},  # a group that exists only at GVA
        {"stations": ["ZZZ"]},  # a station that does not exist
        {"title": ""},
    ],
)
async def test_refusals_are_those_of_raising(site: Site, changes: dict[str, object]) -> None:
    """What raising refuses, the preview refuses alike: same status, same error body."""
    body = EARTHQUAKE | changes
    before = await _rows(site.database)
    preview = await site.post(PREVIEW, site.nbo_officer, body)
    raised = await site.post(ALERTS, site.nbo_officer, body)
    assert preview.status_code in (403, 422)
    assert (preview.status_code, preview.json()) == (raised.status_code, raised.json())
    assert await _rows(site.database) == before


async def test_viewer_may_not_preview(site: Site) -> None:
    """A viewer is refused with 403, as for raising."""
    response = await site.post(PREVIEW, site.viewer, EARTHQUAKE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_officer_of_the_other_station_previews_their_own(site: Site) -> None:
    """The GVA officer sees GVA's one person, in French, priced as Switzerland."""
    response = await site.post(PREVIEW, site.gva_officer, EARTHQUAKE | {"stations": ["GVA"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["recipients"], body["channels"]) == (
        1,
        {"sms": 1, "email": 1, "whatsapp": 0, "voice": 0},
    )
    segments = body["languages"][0]["sms"]["segments"]
    assert body["cost"]["sms"] == float(Decimal("0.08") * segments)
