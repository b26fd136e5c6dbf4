"""Request bodies are read within their limit, after the token and role checks, never beyond."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from notifier import ack_tokens
from notifier.store import materialisation
from notifier.store.engine import Database
from notifier.store.tables import PERSON
from tests.web.hostile_clients import (
    ALERTS,
    EARTHQUAKE,
    NOW,
    SECRET_KEY,
    Callers,
    Offered,
    bearer,
    callers,
    error_of,
)

API_LIMIT = 64 * 1024  # http.max_body_bytes by default
FORM_LIMIT = 16 * 1024  # http.max_form_bytes by default
CHUNK = 16 * 1024
MEGABYTES_OFFERED = 64
SMS_WEBHOOK = "/webhooks/twilio/sms"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def site(database: Database) -> AsyncIterator[Callers]:
    """The app with the default limits."""
    async with callers(database) as built:
        yield built


def offered(head: bytes = b"") -> Offered:
    """A 64 MiB body in 16 KiB chunks, after `head`."""
    return Offered(b"x" * CHUNK, MEGABYTES_OFFERED * 1024 * 1024 // CHUNK, head)


def taken_at_most(limit: int) -> int:
    """How many chunks a server that stops at `limit` bytes takes: up to the one that passes it."""
    return limit // CHUNK + 1


async def test_chunked_api_body_over_the_limit_is_413_and_read_no_further(site: Callers) -> None:
    """A chunked body without Content-Length is cut at 64 KiB: 413, the rest is never taken."""
    body = offered(b'{"title": "')
    response = await site.client.post(
        ALERTS, content=body.stream(), headers=bearer(site.admin) | {"Content-Type": "text/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"
    assert response.headers["connection"] == "close"
    assert body.taken <= taken_at_most(API_LIMIT)
    assert site.wakes.calls == 0


async def test_declared_length_over_the_limit_is_413_before_a_byte_is_read(site: Callers) -> None:
    """A Content-Length over the limit is refused at once: not one chunk of the body is taken."""
    body = offered()
    headers = bearer(site.admin) | {"Content-Length": str(body.size)}
    response = await site.client.post(ALERTS, content=body.stream(), headers=headers)
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"
    assert body.taken == 0


async def test_viewer_with_a_big_body_is_403_before_it_is_read(site: Callers) -> None:
    """The role is checked before the body: a viewer's 64 MiB request is 403, no chunk taken."""
    body = offered()
    response = await site.client.post(ALERTS, content=body.stream(), headers=bearer(site.viewer))
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert response.headers["connection"] == "close"
    assert body.taken == 0
    body = offered()
    response = await site.client.post(
        ALERTS, content=body.stream(), headers=bearer("ntf_not-a-token")
    )
    assert response.status_code == 401
    assert response.headers["connection"] == "close"
    assert body.taken == 0


async def test_cancel_with_a_big_body_reads_none_of_it(site: Callers) -> None:
    """A route that takes no body answers without reading one sent to it, and closes."""
    alert_id = await site.raise_alert()
    body = offered()
    response = await site.client.post(
        f"{ALERTS}/{alert_id}/cancel", content=body.stream(), headers=bearer(site.admin)
    )
    assert response.status_code == 200
    assert response.headers["connection"] == "close"  # the server reads no more of it
    assert body.taken == 0


async def test_unsigned_webhook_with_a_big_body_is_403_before_it_is_read(site: Callers) -> None:
    """A webhook without X-Twilio-Signature is refused without reading its body."""
    body = offered(b"MessageSid=")
    response = await site.client.post(SMS_WEBHOOK, content=body.stream(), headers=FORM_TYPE)
    assert response.status_code == 403
    assert response.headers["connection"] == "close"
    assert body.taken == 0


@pytest.mark.parametrize("path", [SMS_WEBHOOK, "/webhooks/twilio/status"])
async def test_chunked_webhook_body_is_cut_at_16_kib(site: Callers, path: str) -> None:
    """A webhook with any signature and a huge chunked form: 413 once past 16 KiB."""
    body = offered(b"MessageSid=")
    headers = FORM_TYPE | {"X-Twilio-Signature": "c2lnbmF0dXJl"}
    response = await site.client.post(path, content=body.stream(), headers=headers)
    assert response.status_code == 413
    assert body.taken <= taken_at_most(FORM_LIMIT)


async def test_webhook_form_of_many_small_fields_is_refused(site: Callers) -> None:
    """A form within 16 KiB but of more than 200 fields is refused with 400 before its signature."""
    form = "&".join(f"F{index}=1" for index in range(1000)).encode()
    assert len(form) < FORM_LIMIT
    headers = FORM_TYPE | {"X-Twilio-Signature": "c2lnbmF0dXJl"}
    response = await site.client.post(SMS_WEBHOOK, content=form, headers=headers)
    assert response.status_code == 400
    assert "more than 200 fields" in error_of(response)["message"]


async def test_acknowledgement_form_over_the_limit_is_413(site: Callers) -> None:
    """The acknowledgement page's POST reads at most 16 KiB of form, then answers 413."""
    body = offered(b"response=")
    path = await ack_path(site, "N00000")
    response = await site.client.post(path, content=body.stream(), headers=FORM_TYPE)
    assert response.status_code == 413
    assert body.taken <= taken_at_most(FORM_LIMIT)


async def test_acknowledgement_form_with_a_forged_token_is_not_read(site: Callers) -> None:
    """A POST to a link we did not issue is refused before its form is read."""
    body = offered(b"response=")
    response = await site.client.post("/ack/" + "a" * 45, content=body.stream(), headers=FORM_TYPE)
    assert response.status_code == 404
    assert response.headers["connection"] == "close"
    assert body.taken == 0


async def ack_path(site: Callers, person_id: str) -> str:
    """The acknowledgement link's path for `person_id` of a new alert to NBO, materialised."""
    alert_id = await site.raise_alert()
    async with site.database.session() as session:
        await materialisation.materialise_batch(session, alert_id, 100, NOW)
        query = select(PERSON.c.id).where(PERSON.c.person_id == person_id)
        person = (await session.execute(query)).scalar_one()
    return "/ack/" + ack_tokens.issue(
        SECRET_KEY.encode(), alert_id, person, NOW + timedelta(days=1)
    )


async def test_limits_follow_the_configuration(database: Database) -> None:
    """`http.max_body_bytes` sets the API's limit: 2 KiB refuses a 3 KiB alert, takes 1 KiB."""
    async with callers(database, {"NOTIFIER_HTTP__MAX_BODY_BYTES": "2048"}) as site:
        big = await site.client.post(
            ALERTS, json=EARTHQUAKE | {"message": "x" * 3000}, headers=bearer(site.admin)
        )
        small = await site.client.post(
            ALERTS, json=EARTHQUAKE | {"message": "x" * 1000}, headers=bearer(site.admin)
        )
    assert big.status_code == 413
    assert error_of(big)["message"] == "the request body is larger than 2048 bytes"
    assert small.status_code == 202
