"""One alert's page in the console: who needs help first, live figures, cancel and close, and
a draft's sending."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from notifier.domain import Channel, ResponseKind
from notifier.store import materialisation
from notifier.store.engine import Database
from notifier.store.responses import Answer, record_answer
from notifier.store.tables import ALERT, PERSON, STATION, AuditEntry
from tests.console.console_app import NOW, Console, console_on, csrf_of

NBO_ALERT = 1
GVA_ALERT = 2


@pytest.fixture
async def console(database: Database) -> AsyncIterator[Console]:
    """The console with one alert at NBO (listed in full) and one at GVA."""
    async with console_on(database) as console:
        await console.raise_alert("Flood in Gigiri", "NBO")
        await console.raise_alert("Fire in Palais", "GVA")
        async with database.session() as session:
            while not (
                await materialisation.materialise_batch(session, NBO_ALERT, 10, NOW)
            ).finished:
                pass
        yield console


async def _reply(database: Database, person_id: str, kind: ResponseKind, text: str) -> None:
    """Record an SMS answer of `person_id` to the NBO alert, as the webhook does."""
    async with database.session() as session:
        person = (
            await session.execute(select(PERSON.c.id).where(PERSON.c.person_id == person_id))
        ).scalar_one()
        answer = Answer(NBO_ALERT, person, kind, Channel.SMS, text)
        await record_answer(session, answer, NOW)


async def _status(database: Database, alert_id: int) -> str:
    async with database.session(read_only=True) as session:
        status: str = (
            await session.execute(select(ALERT.c.status).where(ALERT.c.id == alert_id))
        ).scalar_one()
    return status


async def _audited(database: Database, action: str) -> list[tuple[str, str, str]]:
    async with database.session(read_only=True) as session:
        found = await session.execute(
            select(col(AuditEntry.actor), col(AuditEntry.target), col(AuditEntry.source)).where(
                col(AuditEntry.action) == action
            )
        )
    return [(actor, target, source) for actor, target, source in found.all()]


async def test_help_comes_first_with_phone_and_words(console: Console) -> None:
    """The person who needs help is listed first with a tel: link and their latest words,
    then other answers with theirs, then those who did not answer, under their station."""
    await _reply(console.database, "N00002", ResponseKind.OTHER, "Working from home today")
    await _reply(console.database, "N00001", ResponseKind.HELP, "2")
    await _reply(console.database, "N00001", ResponseKind.OTHER, "my leg is broken")
    page = await console.get(f"/alerts/{NBO_ALERT}", await console.sign_in(console.nbo_officer))
    assert page.status_code == 200
    text = page.text
    helped = text.index('<a class="phone" href="tel:+254720000001">+254720000001</a>')
    words = text.index("my leg is broken")
    other = text.index("Working from home today")
    silent = text.index('href="tel:+254720000000"')
    assert text.index("No one has asked for help.") < helped  # the hidden placeholder
    assert helped < words < text.index("Other answers") < other < silent
    assert "NBO · 1" in text
    assert 'data-live="/alerts/1/live"' in text
    assert '<polyline class="line"' in text


async def test_the_words_of_a_help_answer_are_shown(console: Console) -> None:
    """ "2, trapped in basement B2" shows its words under the person; a bare "2" shows none."""
    await _reply(console.database, "N00001", ResponseKind.HELP, "2, trapped in basement B2")
    await _reply(console.database, "N00002", ResponseKind.HELP, "2")
    page = await console.get(f"/alerts/{NBO_ALERT}", await console.sign_in(console.nbo_officer))
    text = page.text
    assert text.index('href="tel:+254720000001"') < text.index("2, trapped in basement B2")
    assert "“2”" not in text and "&#34;2&#34;" not in text
    live = await console.get(
        f"/alerts/{NBO_ALERT}/live", await console.sign_in(console.nbo_officer)
    )
    words = {row["person_id"]: row["latest_text"] for row in live.json()["help"]}
    assert words == {"N00001": "2, trapped in basement B2", "N00002": None}


async def test_another_stations_alert_and_its_live_figures_are_404(console: Console) -> None:
    """The NBO officer gets 404 for GVA's alert page and its /live, as for a missing alert."""
    session = await console.sign_in(console.nbo_officer)
    for path in (f"/alerts/{GVA_ALERT}", f"/alerts/{GVA_ALERT}/live", "/alerts/999/live"):
        response = await console.get(path, session)
        assert response.status_code == 404, path
        assert "Fire in Palais" not in response.text
    assert (await console.get(f"/alerts/{GVA_ALERT}/cancel", session)).status_code == 404


async def test_live_figures_without_a_session_are_401(console: Console) -> None:
    """/live answers 401 JSON, not a redirect, to a browser that is no longer signed in."""
    response = await console.get(f"/alerts/{NBO_ALERT}/live", None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_live_json_has_the_figures_and_the_help_list(console: Console) -> None:
    """/live carries the API's figures and the people who need help with phone and words."""
    await _reply(console.database, "N00001", ResponseKind.HELP, "2")
    await _reply(console.database, "N00001", ResponseKind.OTHER, "trapped on floor 3")
    await _reply(console.database, "N00000", ResponseKind.SAFE, "1")
    session = await console.sign_in(console.nbo_officer)
    response = await console.get(f"/alerts/{NBO_ALERT}/live", session)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["id"], body["status"], body["recipients"]) == (NBO_ALERT, "dispatching", 3)
    assert (body["acknowledged"], body["not_answered"]) == (2, 1)
    assert body["responses"] == {"safe": 1, "help": 1, "other": 0}
    assert body["channels"]["sms"]["queued"] == 3
    assert body["help"] == [
        {
            "person_id": "N00001",
            "name": "Person 1",
            "station": "NBO",
            "phone": "+254720000001",
            "latest_text": "trapped on floor 3",
            "acknowledged_at": body["help"][0]["acknowledged_at"],
        }
    ]
    assert body["help_more"] == 0


async def test_viewer_sees_no_buttons_and_is_refused(console: Console) -> None:
    """A viewer reads the page without cancel or close; the confirmation and a POST are 403."""
    session = await console.sign_in(console.viewer)
    page = await console.get(f"/alerts/{NBO_ALERT}", session)
    assert page.status_code == 200
    assert "/cancel" not in page.text
    assert "/close" not in page.text
    assert (await console.get(f"/alerts/{NBO_ALERT}/cancel", session)).status_code == 403
    csrf = csrf_of(page.text)
    for step in ("cancel", "close"):
        response = await console.post(f"/alerts/{NBO_ALERT}/{step}", session, {"csrf": csrf})
        assert response.status_code == 403
    assert await _status(console.database, NBO_ALERT) == "dispatching"


async def test_cancel_without_csrf_changes_nothing(console: Console) -> None:
    """A cancel posted without the session's CSRF value is refused; the alert goes on."""
    session = await console.sign_in(console.nbo_officer)
    for data in ({}, {"csrf": "0" * 64}):
        response = await console.post(f"/alerts/{NBO_ALERT}/cancel", session, data)
        assert response.status_code == 403
    assert await _status(console.database, NBO_ALERT) == "dispatching"
    assert await _audited(console.database, "alert.cancel") == []


async def test_cancel_after_confirmation(console: Console) -> None:
    """The page links to a confirmation whose form cancels the alert, audited with its source."""
    session = await console.sign_in(console.nbo_officer)
    page = await console.get(f"/alerts/{NBO_ALERT}", session)
    assert f'href="/alerts/{NBO_ALERT}/cancel"' in page.text
    confirmation = await console.get(f"/alerts/{NBO_ALERT}/cancel", session)
    assert confirmation.status_code == 200
    assert "Queued messages will not be sent" in confirmation.text
    data = {"csrf": csrf_of(confirmation.text)}
    response = await console.post(f"/alerts/{NBO_ALERT}/cancel", session, data)
    assert response.status_code == 303
    assert response.headers["location"] == f"/alerts/{NBO_ALERT}"
    assert await _status(console.database, NBO_ALERT) == "cancelled"
    [(actor, target, source)] = await _audited(console.database, "alert.cancel")
    assert (actor, target) == ("Amina NBO", f"alert:{NBO_ALERT}")
    assert source.startswith("api ")
    after = await console.get(f"/alerts/{NBO_ALERT}", session)
    assert "/cancel" not in after.text
    assert "data-live" not in after.text  # nothing moves any more: no polling
    assert (await console.get(f"/alerts/{NBO_ALERT}/cancel", session)).status_code == 303


async def test_close_after_confirmation(console: Console) -> None:
    """The close confirmation says answers stop; its form closes the alert."""
    session = await console.sign_in(console.admin)
    confirmation = await console.get(f"/alerts/{GVA_ALERT}/close", session)
    assert "Answers will no longer be taken" in confirmation.text
    data = {"csrf": csrf_of(confirmation.text)}
    response = await console.post(f"/alerts/{GVA_ALERT}/close", session, data)
    assert response.status_code == 303
    assert await _status(console.database, GVA_ALERT) == "closed"
    assert len(await _audited(console.database, "alert.close")) == 1


async def test_other_stations_officer_cannot_cancel(console: Console) -> None:
    """GVA's officer posting a cancel of NBO's alert gets 404, as for a missing alert."""
    session = await console.sign_in(console.gva_officer)
    page = await console.get("/", session)
    response = await console.post(
        f"/alerts/{NBO_ALERT}/cancel", session, {"csrf": csrf_of(page.text)}
    )
    assert response.status_code == 404
    assert await _status(console.database, NBO_ALERT) == "dispatching"


async def test_alert_page_in_french(console: Console) -> None:
    """With Accept-Language: fr, the page and its confirmation speak French."""
    await _reply(console.database, "N00001", ResponseKind.HELP, "2")
    session = await console.sign_in(console.nbo_officer)
    french = {"Accept-Language": "fr"}
    page = await console.get(f"/alerts/{NBO_ALERT}", session, **french)
    assert "Besoin d’aide" in page.text
    assert "Annuler l’alerte" in page.text
    assert "Connexion au notificateur perdue — nouvel essai en cours" in page.text
    assert "Autres réponses" in page.text
    confirmation = await console.get(f"/alerts/{NBO_ALERT}/close", session, **french)
    assert "Clore cette alerte ?" in confirmation.text


FLOOD_WARNING = b"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>KE-MET-2026-1203-01</identifier>
  <sender>warnings@meteo.example.org</sender>
  <sent>2026-12-03T10:00:00+03:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Met</category>
    <event>Flash flood</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <headline>Flash flood in Gigiri</headline>
    <description>The river is rising fast.</description>
    <area><areaDesc>Gigiri</areaDesc><circle>-1.2335,36.8140 3</circle></area>
  </info>
</alert>
"""


async def test_a_draft_is_reviewed_and_sent_from_its_page(console: Console) -> None:
    """A warning from outside made a draft for NBO: its page says nothing was sent and offers
    only "Send the draft"; the confirmation's form raises it, audited with who sent it."""
    async with console.database.session() as transaction:
        await transaction.execute(
            update(STATION)
            .where(STATION.c.code == "NBO")
            .values(latitude=-1.2335, longitude=36.814)
        )
    imported = await console.client.post(
        "/api/v1/cap", content=FLOOD_WARNING, headers={"Authorization": f"Bearer {console.admin}"}
    )
    assert imported.status_code == 201, imported.text
    draft = imported.json()["id"]
    session = await console.sign_in(console.nbo_officer)
    page = await console.get(f"/alerts/{draft}", session)
    assert "nobody has been sent anything yet" in page.text
    assert f'href="/alerts/{draft}/send"' in page.text
    assert f"/alerts/{draft}/cancel" not in page.text
    assert (await console.get(f"/alerts/{NBO_ALERT}", session)).text.count("/send") == 0
    confirmation = await console.get(f"/alerts/{draft}/send", session)
    assert "Send this draft?" in confirmation.text
    data = {"csrf": csrf_of(confirmation.text)}
    response = await console.post(f"/alerts/{draft}/send", session, data)
    assert response.status_code == 303
    assert await _status(console.database, draft) == "dispatching"
    [(actor, target, _)] = await _audited(console.database, "alert.send_draft")
    assert (actor, target) == ("Amina NBO", f"alert:{draft}")
    after = await console.get(f"/alerts/{draft}", session)
    assert f"/alerts/{draft}/send" not in after.text
    assert (await console.get(f"/alerts/{draft}/send", session)).status_code == 303
    again = await console.post(f"/alerts/{draft}/send", session, data)  # sent already
    assert again.status_code == 303
    assert len(await _audited(console.database, "alert.send_draft")) == 1
