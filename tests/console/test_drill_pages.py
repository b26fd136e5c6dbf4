"""The console's drills: the list by scope, run now, pause and resume through the store's rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from notifier.store import audit
from notifier.store.engine import Database
from tests.console.console_app import Console, console_on, csrf_of

NBO_DRILL = {"name": "nbo-monthly", "stations": ["NBO"], "cron": "0 10 1-7 * mon"}
GVA_DRILL = {"name": "gva-monthly", "stations": ["GVA"], "cron": "0 9 1-7 * tue"}


@pytest.fixture
async def console(database: Database) -> AsyncIterator[Console]:
    """The console with a monthly drill at NBO and one at GVA."""
    async with console_on(database) as console:
        for drill in (NBO_DRILL, GVA_DRILL):
            response = await console.client.post(
                "/api/v1/drills", json=drill, headers={"Authorization": f"Bearer {console.admin}"}
            )
            assert response.status_code == 201, response.text
        yield console


async def _drills(console: Console) -> dict[str, dict[str, Any]]:
    """The drills as the API lists them to an admin, by name."""
    response = await console.client.get(
        "/api/v1/drills", headers={"Authorization": f"Bearer {console.admin}"}
    )
    return {drill["name"]: drill for drill in response.json()}


async def _actions(database: Database) -> list[tuple[str, str, str]]:
    async with database.session(read_only=True) as session:
        entries = await audit.read_entries(session)
    return [(e.action, e.target, e.source) for e in entries if e.action.startswith("drill.")]


async def test_officer_sees_and_manages_only_their_drills(console: Console) -> None:
    """The NBO officer sees NBO's drill with its forms, not GVA's; the next run in both times."""
    page = await console.get("/drills", await console.sign_in(console.nbo_officer))
    assert page.status_code == 200
    assert "nbo-monthly" in page.text
    assert "gva-monthly" not in page.text
    assert 'action="/drills/nbo-monthly/run"' in page.text
    assert 'action="/drills/nbo-monthly/pause"' in page.text
    # 30 Nov 2026 is a Monday: the next first Monday is 7 December, 10:00 in Nairobi.
    assert "2026-12-07 10:00 +0300 (2026-12-07 07:00 UTC)" in page.text


async def test_viewer_sees_drills_but_cannot_act(console: Console) -> None:
    """A viewer reads both drills without a form; a posted pause is refused and changes nothing."""
    session = await console.sign_in(console.viewer)
    page = await console.get("/drills", session)
    assert "nbo-monthly" in page.text
    assert "gva-monthly" in page.text
    assert 'action="/drills/' not in page.text
    csrf = csrf_of(page.text)
    for action in ("pause", "run"):
        response = await console.post(f"/drills/nbo-monthly/{action}", session, {"csrf": csrf})
        assert response.status_code == 403
    assert (await _drills(console))["nbo-monthly"]["paused"] is False
    assert (await _drills(console))["nbo-monthly"]["last_alert_id"] is None


async def test_run_now_raises_an_audited_drill_alert(console: Console) -> None:
    """Run now raises the drill's alert (kind drill), goes to its page, and is audited."""
    session = await console.sign_in(console.nbo_officer)
    csrf = csrf_of((await console.get("/drills", session)).text)
    response = await console.post("/drills/nbo-monthly/run", session, {"csrf": csrf})
    assert response.status_code == 303
    alert_id = (await _drills(console))["nbo-monthly"]["last_alert_id"]
    assert response.headers["location"] == f"/alerts/{alert_id}"
    alert = await console.client.get(
        f"/api/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {console.admin}"}
    )
    assert alert.json()["kind"] == "drill"
    assert ("drill.run", "drill:nbo-monthly", "api 127.0.0.1") in await _actions(console.database)
    page = (await console.get("/drills", session)).text
    assert f'href="/alerts/{alert_id}"' in page


async def test_pause_without_csrf_changes_nothing(console: Console) -> None:
    """A pause posted without the form's CSRF value is refused; with it, it pauses and resumes."""
    session = await console.sign_in(console.nbo_officer)
    refused = await console.post("/drills/nbo-monthly/pause", session, {})
    assert refused.status_code == 403
    wrong = await console.post("/drills/nbo-monthly/pause", session, {"csrf": "0" * 64})
    assert wrong.status_code == 403
    assert (await _drills(console))["nbo-monthly"]["paused"] is False
    assert await _actions(console.database) == [
        ("drill.add", "drill:nbo-monthly", "api 127.0.0.1"),
        ("drill.add", "drill:gva-monthly", "api 127.0.0.1"),
    ]
    csrf = csrf_of((await console.get("/drills", session)).text)
    paused = await console.post("/drills/nbo-monthly/pause", session, {"csrf": csrf})
    assert (paused.status_code, paused.headers["location"]) == (303, "/drills")
    assert (await _drills(console))["nbo-monthly"]["paused"] is True
    page = (await console.get("/drills", session)).text
    assert 'action="/drills/nbo-monthly/resume"' in page
    resumed = await console.post("/drills/nbo-monthly/resume", session, {"csrf": csrf})
    assert resumed.status_code == 303
    assert (await _drills(console))["nbo-monthly"]["paused"] is False
    actions = [action for action, _, _ in await _actions(console.database)]
    assert actions[-2:] == ["drill.pause", "drill.resume"]


async def test_another_stations_drill_is_not_found(console: Console) -> None:
    """The GVA officer's run of NBO's drill is a 404 like a drill that does not exist."""
    session = await console.sign_in(console.gva_officer)
    csrf = csrf_of((await console.get("/drills", session)).text)
    other = await console.post("/drills/nbo-monthly/run", session, {"csrf": csrf})
    missing = await console.post("/drills/no-such-drill/run", session, {"csrf": csrf})
    assert other.status_code == missing.status_code == 404
    assert other.text == missing.text
    assert (await _drills(console))["nbo-monthly"]["last_alert_id"] is None


async def test_drills_page_in_french(console: Console) -> None:
    """With Accept-Language: fr, the drills' page speaks French."""
    session = await console.sign_in(console.nbo_officer)
    page = await console.get("/drills", session, **{"Accept-Language": "fr"})
    assert "Prochain déclenchement" in page.text
    assert "Lancer maintenant" in page.text
    assert "Mettre en pause" in page.text
