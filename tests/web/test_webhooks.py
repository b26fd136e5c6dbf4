"""Twilio's delivery status callback: signed for the public URL, forward only, failing over."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, DeliveryStatus, Role
from notifier.settings import load_settings
from notifier.store import alerts, materialisation, outbox
from notifier.store.engine import Database
from notifier.store.sending import ClaimedDelivery
from notifier.store.tables import DELIVERY, PERSON
from notifier.web.app import create_app
from notifier.web.webhooks import once_sent
from tests.clock import HandClock
from tests.seeding import nairobi_people, seed
from tests.web.wake import WakeCounter

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CALLBACK_AT = NOW + timedelta(minutes=1)
AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
PUBLIC_URL = "https://ens.example.org"
PATH = "/webhooks/twilio/status"
SIGNED_URL = PUBLIC_URL + PATH
ACCOUNT_SID = "AC" + "0" * 32
UNKNOWN_SID = "SM" + "f" * 32

Snapshot = list[tuple[int, str, str, str | None, datetime | None, datetime | None]]


@dataclass(frozen=True, slots=True)
class Callbacks:
    """A client of the app, the database behind it, and the SIDs of the SMS already sent."""

    client: httpx.AsyncClient
    database: Database
    wakes: WakeCounter
    sids: list[str]

    async def post(
        self,
        status: str,
        sid: str,
        *,
        signature: str | None = None,
        delivery: int | str | None = None,
        **extra: str,
    ) -> httpx.Response:
        """POST a status callback signed for the public URL, or with `signature` ("" for none).

        `delivery` is the delivery number in the callback URL, as the SMS channel asks for it.
        """
        form = callback_form(status, sid) | extra
        query = "" if delivery is None else f"?delivery={delivery}"
        if signature is None:
            signature = sign(SIGNED_URL + query, form)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return await self.client.post(PATH + query, data=form, headers=headers)


def callback_form(status: str, sid: str) -> dict[str, str]:
    """The form fields Twilio posts to a status callback."""
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+254720000000",
        "From": "+15005550006",
        "ApiVersion": "2010-04-01",
    }


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature as Twilio computes it for `url` and `form`."""
    signature: str = RequestValidator(token).compute_signature(url, form)
    return signature


async def snapshot(database: Database) -> Snapshot:
    """Every delivery's id, channel, status, last error and settlement times, by id."""
    c = DELIVERY.c
    query = select(c.id, c.channel, c.status, c.last_error, c.delivered_at, c.failed_at)
    async with database.session() as session:
        rows = (await session.execute(query.order_by(c.id))).all()
    return [(r.id, r.channel, r.status, r.last_error, r.delivered_at, r.failed_at) for r in rows]


async def status_of(database: Database, sid: str) -> str:
    """The status of the SMS delivery Twilio knows as `sid`."""
    query = select(DELIVERY.c.status).where(DELIVERY.c.provider_id == sid)
    async with database.session() as session:
        status: str = (await session.execute(query)).scalar_one()
    return status


async def delivery_of(database: Database, sid: str) -> int:
    """The id of the SMS delivery Twilio knows as `sid`."""
    query = select(DELIVERY.c.id).where(DELIVERY.c.provider_id == sid)
    async with database.session() as session:
        delivery: int = (await session.execute(query)).scalar_one()
    return delivery


async def deliveries_of(database: Database, person_id: str) -> list[tuple[str, str]]:
    """(channel, status) of every delivery to the person, sorted."""
    query = (
        select(DELIVERY.c.channel, DELIVERY.c.status)
        .join(PERSON, PERSON.c.id == DELIVERY.c.person)
        .where(PERSON.c.person_id == person_id)
    )
    async with database.session() as session:
        return sorted((row.channel, row.status) for row in (await session.execute(query)).all())


async def sms_alert_claimed(database: Database, people: int) -> list[ClaimedDelivery]:
    """Raise an SMS-only alert to the `people` seeded at NBO, and claim their SMS."""
    request = AlertRequest(
        title="Flood", message="Move to higher floors.", stations=("NBO",), channels=(Channel.SMS,)
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("admin", Role.ADMIN))
    assert alert.id is not None
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    async with database.session() as session:
        claimed = await outbox.claim(
            session, Channel.SMS, 10, "worker-1", NOW, timedelta(seconds=60)
        )
    assert len(claimed) == people
    return claimed


async def sms_alert_sent(database: Database) -> list[str]:
    """Raise an SMS-only alert to two people at NBO, send both SMS; their SIDs, by person."""
    await seed(database, nairobi_people(2))
    claimed = await sms_alert_claimed(database, 2)
    async with database.session() as session:
        sids = [f"SM{delivery.person:032d}" for delivery in claimed]
        for delivery, sid in zip(claimed, sids, strict=True):
            await outbox.mark_sent(session, delivery.id, sid, NOW)
    assert len(sids) == 2
    return sids


@pytest.fixture
async def twilio(database: Database) -> AsyncIterator[Callbacks]:
    """The app with a Twilio auth token and a public URL unlike the client's, two SMS sent."""
    sids = await sms_alert_sent(database)
    settings = load_settings(
        None, {"NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN, "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL}
    )
    wakes = WakeCounter()
    app = create_app(database, settings, clock=HandClock(CALLBACK_AT), wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Callbacks(client, database, wakes, sids)


async def test_missing_signature_is_403(twilio: Callbacks) -> None:
    """A callback without X-Twilio-Signature is refused with 403 and changes nothing."""
    before = await snapshot(twilio.database)
    response = await twilio.post("delivered", twilio.sids[0], signature="")
    assert response.status_code == 403
    assert await snapshot(twilio.database) == before


async def test_forged_signature_is_403(twilio: Callbacks) -> None:
    """A signature made with another token, or for other fields, is refused and changes nothing."""
    before = await snapshot(twilio.database)
    sid = twilio.sids[0]
    other_token = sign(SIGNED_URL, callback_form("delivered", sid), token="not-the-auth-token")
    for_other_fields = sign(SIGNED_URL, callback_form("delivered", sid))
    for status, signature in (("delivered", other_token), ("failed", for_other_fields)):
        response = await twilio.post(status, sid, signature=signature)
        assert response.status_code == 403
    assert await snapshot(twilio.database) == before
    assert twilio.wakes.calls == 0


async def test_signature_for_the_internal_url_is_403(twilio: Callbacks) -> None:
    """A signature over the URL the app was reached at, not the public one, is refused."""
    before = await snapshot(twilio.database)
    sid = twilio.sids[0]
    internal = sign(f"http://test{PATH}", callback_form("delivered", sid))
    response = await twilio.post("delivered", sid, signature=internal)
    assert response.status_code == 403
    assert await snapshot(twilio.database) == before


async def test_delivered_callback_settles_a_sent_sms(twilio: Callbacks) -> None:
    """A valid `delivered` callback answers 204 and moves the sent SMS to delivered."""
    response = await twilio.post("delivered", twilio.sids[0])
    assert response.status_code == 204
    assert await status_of(twilio.database, twilio.sids[0]) == "delivered"
    assert await status_of(twilio.database, twilio.sids[1]) == "sent"
    assert twilio.wakes.calls == 0


async def test_replayed_callback_changes_nothing(twilio: Callbacks) -> None:
    """The same `delivered` callback twice answers 204 twice; the second changes nothing."""
    assert (await twilio.post("delivered", twilio.sids[0])).status_code == 204
    after_first = await snapshot(twilio.database)
    assert (await twilio.post("delivered", twilio.sids[0])).status_code == 204
    assert await snapshot(twilio.database) == after_first


@pytest.mark.parametrize("late", ["sent", "queued", "failed", "undelivered"])
async def test_states_only_move_forward(twilio: Callbacks, late: str) -> None:
    """A callback arriving after `delivered` (out of order) leaves the delivery delivered."""
    assert (await twilio.post("delivered", twilio.sids[0])).status_code == 204
    after_delivered = await snapshot(twilio.database)
    assert (await twilio.post(late, twilio.sids[0])).status_code == 204
    assert await snapshot(twilio.database) == after_delivered
    assert twilio.wakes.calls == 0


async def test_non_final_status_of_a_sent_sms_changes_nothing(twilio: Callbacks) -> None:
    """`sent` for an SMS still sent is acknowledged with 204 and leaves it sent."""
    before = await snapshot(twilio.database)
    assert (await twilio.post("sent", twilio.sids[0])).status_code == 204
    assert await snapshot(twilio.database) == before


@pytest.mark.parametrize("status", ["failed", "undelivered"])
async def test_failed_sms_fails_over_to_email(twilio: Callbacks, status: str) -> None:
    """A sent SMS the provider failed becomes failed, e-mail is queued, the dispatcher is woken."""
    response = await twilio.post(status, twilio.sids[0], ErrorCode="30003")
    assert response.status_code == 204
    assert await deliveries_of(twilio.database, "N00000") == [
        ("email", "queued"),
        ("sms", "failed"),
    ]
    assert await deliveries_of(twilio.database, "N00001") == [("sms", "sent")]
    rows = {row[0]: row for row in await snapshot(twilio.database)}
    failed = next(row for row in rows.values() if row[2] == "failed")
    assert failed[3] is not None and status in failed[3] and "30003" in failed[3]
    assert failed[5] == CALLBACK_AT
    assert twilio.wakes.calls == 1


async def test_unknown_message_sid_changes_nothing(twilio: Callbacks) -> None:
    """A valid callback for a MessageSid we never sent answers 204 and changes nothing."""
    before = await snapshot(twilio.database)
    response = await twilio.post("failed", UNKNOWN_SID)
    assert response.status_code == 204
    assert await snapshot(twilio.database) == before
    assert twilio.wakes.calls == 0


async def test_callback_naming_its_delivery_settles_it(twilio: Callbacks) -> None:
    """The callback URL names the delivery (`?delivery=ID`): found by its key, it moves."""
    first = await delivery_of(twilio.database, twilio.sids[0])
    response = await twilio.post("delivered", twilio.sids[0], delivery=first)
    assert response.status_code == 204
    assert await status_of(twilio.database, twilio.sids[0]) == "delivered"
    assert await status_of(twilio.database, twilio.sids[1]) == "sent"


async def test_callback_naming_another_delivery_changes_nothing(twilio: Callbacks) -> None:
    """A delivery number and a Message SID that do not belong together move nothing."""
    before = await snapshot(twilio.database)
    second = await delivery_of(twilio.database, twilio.sids[1])
    response = await twilio.post("failed", twilio.sids[0], delivery=second)
    assert response.status_code == 204
    assert await snapshot(twilio.database) == before
    assert twilio.wakes.calls == 0


async def test_delivery_number_added_to_a_signed_url_is_403(twilio: Callbacks) -> None:
    """The signature covers the query: a delivery number added afterwards is refused."""
    before = await snapshot(twilio.database)
    sid = twilio.sids[0]
    first = await delivery_of(twilio.database, sid)
    without_query = sign(SIGNED_URL, callback_form("delivered", sid))
    response = await twilio.post("delivered", sid, delivery=first, signature=without_query)
    assert response.status_code == 403
    assert await snapshot(twilio.database) == before


@pytest.mark.parametrize("number", ["", "seven", "-1", "1.5", "9" * 19])
async def test_a_delivery_number_that_is_not_one_is_400(twilio: Callbacks, number: str) -> None:
    """A signed callback whose `delivery` is not a delivery number is refused by name."""
    before = await snapshot(twilio.database)
    response = await twilio.post("delivered", twilio.sids[0], delivery=number)
    assert response.status_code == 400
    assert "delivery must be a delivery number" in response.text
    assert await snapshot(twilio.database) == before


async def test_a_report_racing_the_acceptance_is_recorded_once_it_lands(
    database: Database,
) -> None:
    """A provider's failure report that found its SMS still being sent, while the SMS lane's
    record of the acceptance landed in between (as it may, on PostgreSQL, between two reads of
    one transaction), is tried again and recorded, not given up."""
    await seed(database, nairobi_people(1))
    [claimed] = await sms_alert_claimed(database, 1)
    sid = "SM" + "1" * 32
    attempts = 0

    async def record(session: AsyncSession) -> DeliveryStatus | None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:  # read before the acceptance; the acceptance lands just after
            await outbox.mark_sent(session, claimed.id, sid, NOW)
            return None
        return await outbox.record_provider_status(
            session, Channel.SMS, sid, "failed", "30003", CALLBACK_AT, delivery_id=claimed.id
        )

    moved = await once_sent(database, claimed.id, record)
    assert (moved, attempts) == (DeliveryStatus.FAILED, 2)
    assert (await status_of(database, sid)) == DeliveryStatus.FAILED.value
