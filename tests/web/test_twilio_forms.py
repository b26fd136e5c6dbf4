"""Twilio's webhooks: a signed form re-cut into other fields is refused; repeated fields sign."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlencode

import httpx
import pytest
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from notifier.channels.sms import twilio_signature_is_valid
from notifier.settings import load_settings
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import seed
from tests.web.test_inbound_sms import NOW, PATH, Inbound, phone
from tests.web.test_webhooks import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLBACK_AT,
    PUBLIC_URL,
    SIGNED_URL,
    callback_form,
    sign,
    sms_alert_sent,
    snapshot,
)
from tests.web.wake import WakeCounter

Pairs = Sequence[tuple[str, str]]
SID = "SM" + "a" * 32
OUR_NUMBER = "+15005550006"


def sign_pairs(url: str, pairs: Pairs) -> str:
    """X-Twilio-Signature as Twilio computes it for a form with repeated fields."""
    signature: str = RequestValidator(AUTH_TOKEN).compute_signature(
        url, ImmutableMultiDict(list(pairs))
    )
    return signature


async def post_pairs(
    client: httpx.AsyncClient, path: str, pairs: Pairs, signature: str
) -> httpx.Response:
    """POST `pairs` as a URL-encoded form, in their order, with `signature`."""
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return await client.post(path, content=urlencode(list(pairs)).encode(), headers=headers)


def inbound_form(body: str = "1", **changes: str) -> dict[str, str]:
    """The fields Twilio posts for an SMS from person 5 to our number."""
    form = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": phone(5),
        "MessageSid": SID,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsSid": SID,
        "To": OUR_NUMBER,
    }
    return form | changes


@pytest.fixture
async def inbound(database: Database) -> AsyncIterator[Inbound]:
    """Person 5 (English) at NBO with an open alert, and the app taking inbound SMS."""
    await seed(database, [f"L5,Person 5,l5@example.org,{phone(5)},NBO,en,"])
    settings = load_settings(
        None, {"NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN, "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL}
    )
    clock, wakes = HandClock(NOW), WakeCounter()
    app = create_app(database, settings, clock=clock, wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        site = Inbound(client, database, clock, wakes)
        await site.raise_alert()
        yield site


async def test_a_form_recut_under_the_same_signature_is_refused(inbound: Inbound) -> None:
    """`MessageSid=SM…NumMedia0` without NumMedia signs alike: refused, recorded and confirmed once."""
    form = inbound_form()
    signature = sign(PUBLIC_URL + PATH, form)
    first = await inbound.client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})
    assert first.status_code == 200
    recut = {key: value for key, value in form.items() if key != "NumMedia"}
    recut["MessageSid"] = SID + "NumMedia0"
    assert sign(PUBLIC_URL + PATH, recut) == signature  # the premise: Twilio's signature holds
    replay = await inbound.client.post(PATH, data=recut, headers={"X-Twilio-Signature": signature})
    assert replay.status_code == 400
    assert "MessageSid" in replay.text
    assert [row[4] for row in await inbound.history()] == [SID]
    assert len(await inbound.confirmations()) == 1
    assert inbound.wakes.calls == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"MessageSid": "SM" + "a" * 31},
        {"MessageSid": "XX" + "a" * 32},
        {"MessageSid": SID + "/1"},
        {"From": phone(5) + "MessageSid"},
        {"From": "Person5"},
        {"To": OUR_NUMBER + "NumMedia0"},
        {"NumMedia": "0NumSegments1"},
    ],
)
async def test_signed_inbound_fields_of_the_wrong_shape_are_400(
    inbound: Inbound, changes: dict[str, str]
) -> None:
    """A validly signed inbound SMS whose field is not of its shape records nothing: 400."""
    form = inbound_form(**changes)
    signature = sign(PUBLIC_URL + PATH, form)
    response = await inbound.client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400
    assert next(iter(changes)) in response.text
    assert await inbound.history() == []
    assert await inbound.confirmations() == []


async def test_a_repeated_message_sid_is_400(inbound: Inbound) -> None:
    """Two MessageSid values, signed as Twilio signs repeated fields: refused, nothing recorded."""
    pairs = [*inbound_form().items(), ("MessageSid", "SM" + "b" * 32)]
    response = await post_pairs(inbound.client, PATH, pairs, sign_pairs(PUBLIC_URL + PATH, pairs))
    assert response.status_code == 400
    assert await inbound.history() == []


async def test_repeated_fields_are_checked_with_all_their_values(inbound: Inbound) -> None:
    """A form with a field given twice, signed by Twilio over both values, is taken."""
    pairs = [*inbound_form().items(), ("Digits", "5678"), ("Digits", "1234")]
    response = await post_pairs(inbound.client, PATH, pairs, sign_pairs(PUBLIC_URL + PATH, pairs))
    assert response.status_code == 200
    assert [row[2] for row in await inbound.history()] == ["safe"]
    last_only = sign(PUBLIC_URL + PATH, dict(pairs))  # the form flattened to one value a name
    forged = await post_pairs(inbound.client, PATH, pairs, last_only)
    assert forged.status_code == 403


def test_twilios_own_vector_with_a_repeated_field() -> None:
    """twilio-python's test vector (Digits twice, token 12345) is valid; one value less is not."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    pairs = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    expected = "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert twilio_signature_is_valid("12345", url, pairs, expected)
    assert not twilio_signature_is_valid("12345", url, pairs[:-1], expected)


@pytest.fixture
async def callbacks(database: Database) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """The app taking status callbacks, and the SIDs of two SMS sent."""
    sids = await sms_alert_sent(database)
    settings = load_settings(
        None, {"NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN, "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL}
    )
    app = create_app(database, settings, clock=HandClock(CALLBACK_AT))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, sids


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"MessageStatus": "failedSmsSid"}, "MessageStatus"),
        ({"MessageStatus": "bogus"}, "MessageStatus"),
        ({"ErrorCode": "30003From+15005550006"}, "ErrorCode"),
        ({"MessageSid": "SM" + "z" * 32}, "MessageSid"),
    ],
)
async def test_signed_status_fields_of_the_wrong_shape_are_400(
    database: Database,
    callbacks: tuple[httpx.AsyncClient, list[str]],
    changes: dict[str, str],
    field: str,
) -> None:
    """A validly signed status callback whose field is not of its shape moves nothing: 400."""
    client, sids = callbacks
    before = await snapshot(database)
    form = callback_form("failed", sids[0]) | changes
    headers = {"X-Twilio-Signature": sign(SIGNED_URL, form)}
    response = await client.post("/webhooks/twilio/status", data=form, headers=headers)
    assert response.status_code == 400
    assert field in response.text
    assert await snapshot(database) == before
