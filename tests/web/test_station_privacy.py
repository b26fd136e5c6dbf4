"""Nothing is learnt of other stations: what exists elsewhere answers as what does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from notifier.store.engine import Database
from tests.web.hostile_clients import ALERTS, EARTHQUAKE, Callers, bearer, callers, error_of

MISSING_ID = 987_654


@pytest.fixture
async def site(database: Database) -> AsyncIterator[Callers]:
    """The app over a seeded database: people at NBO, one person at GVA."""
    async with callers(database) as built:
        yield built


def without(response: httpx.Response, *names: str) -> tuple[int, str]:
    """The status and body of `response` with each of `names` blanked out."""
    body = response.text
    for name in names:
        body = body.replace(name, "<name>")
    return response.status_code, body


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("GET", "/recipients")])
async def test_alert_of_another_station_reads_as_missing(
    site: Callers, method: str, suffix: str
) -> None:
    """The GVA officer gets for an NBO alert the very 404 a missing alert gets, id aside."""
    alert_id = await site.raise_alert()
    elsewhere = await site.client.request(
        method, f"{ALERTS}/{alert_id}{suffix}", headers=bearer(site.gva_officer)
    )
    missing = await site.client.request(
        method, f"{ALERTS}/{MISSING_ID}{suffix}", headers=bearer(site.gva_officer)
    )
    assert elsewhere.status_code == 404
    assert error_of(elsewhere)["code"] == "not_found"
    assert without(elsewhere, str(alert_id)) == without(missing, str(MISSING_ID))


async def test_cancelling_an_alert_of_another_station_reads_as_missing(site: Callers) -> None:
    """Cancel by the GVA officer of an NBO alert is the 404 of a missing one; nothing changes."""
    alert_id = await site.raise_alert()
    path = f"{ALERTS}/{{}}/cancel"
    elsewhere = await site.client.post(path.format(alert_id), headers=bearer(site.gva_officer))
    missing = await site.client.post(path.format(MISSING_ID), headers=bearer(site.gva_officer))
    assert elsewhere.status_code == 404
    assert without(elsewhere, str(alert_id)) == without(missing, str(MISSING_ID))
    shown = await site.client.get(f"{ALERTS}/{alert_id}", headers=bearer(site.admin))
    assert shown.json()["status"] == "dispatching"


async def test_viewer_cancelling_is_403_whether_or_not_the_alert_exists(site: Callers) -> None:
    """A viewer scoped to NBO may not cancel: 403 alike for a GVA alert and a missing one."""
    alert_id = await site.raise_alert(stations=["GVA"])
    path = f"{ALERTS}/{{}}/cancel"
    elsewhere = await site.client.post(path.format(alert_id), headers=bearer(site.nbo_viewer))
    missing = await site.client.post(path.format(MISSING_ID), headers=bearer(site.nbo_viewer))
    assert elsewhere.status_code == 403
    assert without(elsewhere, str(alert_id)) == without(missing, str(MISSING_ID))


async def test_person_of_another_station_is_as_unknown_as_a_missing_one(site: Callers) -> None:
    """The NBO officer naming a GVA person gets the 422 of a person who does not exist."""
    elsewhere = await site.client.post(
        ALERTS, json=EARTHQUAKE | {"people": ["G00001"]}, headers=bearer(site.nbo_officer)
    )
    missing = await site.client.post(
        ALERTS, json=EARTHQUAKE | {"people": ["G99999"]}, headers=bearer(site.nbo_officer)
    )
    assert elsewhere.status_code == 422
    assert error_of(elsewhere)["field"] == "people"
    assert without(elsewhere, "G00001") == without(missing, "G99999")
    assert site.wakes.calls == 0
    at_home = await site.client.post(
        ALERTS,
        json=EARTHQUAKE | {"stations": ["GVA"], "people": ["G00001"]},
        headers=bearer(site.gva_officer),
    )
    assert at_home.status_code == 202, at_home.text


async def test_group_of_another_station_is_as_unknown_as_a_missing_one(site: Callers) -> None:
    """A group that exists only at GVA answers the NBO officer as a group that does not exist."""
    elsewhere = await site.client.post(
        ALERTS, json=EARTHQUAKE | {"groups": ["crisis-cell"]}, headers=bearer(site.nbo_officer)
    )
    missing = await site.client.post(
        ALERTS, json=EARTHQUAKE | {"groups": ["crisis-gone"]}, headers=bearer(site.nbo_officer)
    )
    assert elsewhere.status_code == 422
    assert error_of(elsewhere)["field"] == "groups"
    assert without(elsewhere, "crisis-cell") == without(missing, "crisis-gone")
    assert site.wakes.calls == 0
    by_admin = await site.client.post(
        ALERTS,
        json=EARTHQUAKE | {"stations": ["GVA"], "groups": ["crisis-cell"], "people": ["N00000"]},
        headers=bearer(site.admin),
    )
    assert by_admin.status_code == 202, by_admin.text
    assert by_admin.json()["recipients"] == 2
