"""Each message's segments and price are written as it is sent, through the real channels."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Purpose
from notifier.sms_length import sms_length
from notifier.store import alerts, outbox
from notifier.store.engine import Database
from notifier.store.outbox import Notice
from notifier.store.report_data import read_report
from notifier.store.tables import DELIVERY, PERSON
from notifier.store.types import utc_now
from tests.dispatch.harness import ADMIN, running_fan_out
from tests.seeding import nairobi_people, seed

PRICES = {
    "NOTIFIER_COSTS__CURRENCY": "CHF",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICE": "0.05",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__KE": "0.0451",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__CH": "0.0788",
    "NOTIFIER_COSTS__EMAIL_PRICE": "0.0003",
}
MICROS_A_SEGMENT = {"+254": 45_100, "+41": 78_800}
SWISS_PHONE = "+41791234567"
ROSTER = [*nairobi_people(2), f"G1,Ivan Petrov,ivan@example.org,{SWISS_PHONE},GVA,ru,"]
CONFIRMATION = "Ваш ответ получен: вы в безопасности. Спасибо. " * 3  # UCS-2: 141 units, 3 segments


def _segment_price(number: str) -> int:
    return next(price for prefix, price in MICROS_A_SEGMENT.items() if number.startswith(prefix))


async def _priced(
    database: Database, alert_id: int
) -> dict[tuple[str, str, str | None], tuple[Any, ...]]:
    """(purpose, channel, phone) → (status, segments, cost_micros) of the alert's deliveries."""
    d = DELIVERY.c
    query = (
        select(d.purpose, d.channel, PERSON.c.phone, d.status, d.segments, d.cost_micros)
        .join(PERSON, PERSON.c.id == d.person)
        .where(d.alert_id == alert_id)
    )
    async with database.session() as session:
        rows = (await session.execute(query)).all()
    return {(row[0], row[1], row[2]): tuple(row[3:]) for row in rows}


async def _until_sent(database: Database, alert_id: int, purpose: Purpose) -> None:
    deadline = time.monotonic() + 30
    d = DELIVERY.c
    query = select(d.status).where(d.alert_id == alert_id, d.purpose == purpose.value)
    while time.monotonic() < deadline:
        async with database.session() as session:
            if set((await session.execute(query)).scalars()) == {"sent"}:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {purpose} deliveries of alert {alert_id} were not sent")


async def test_dispatch_writes_each_messages_segments_and_price(database: Database) -> None:
    """SMS to Kenya and Switzerland at their own prices, e-mails at theirs, a notice too."""
    await seed(database, ROSTER)
    async with running_fan_out(database, more=PRICES) as fan_out:
        alert_id = await fan_out.raise_alert(
            AlertRequest(title="Earthquake", message="Leave the building.", stations=("NBO", "GVA"))
        )
        await fan_out.until_dispatched(alert_id)
        async with database.session() as session:
            swiss = (
                await session.execute(select(PERSON.c.id).where(PERSON.c.phone == SWISS_PHONE))
            ).scalar_one()
            notice = Notice(alert_id, swiss, Channel.SMS, Purpose.ANSWER, 1, CONFIRMATION)
            assert await outbox.queue_notice(session, notice, utc_now())
        fan_out.dispatcher.wake()
        await _until_sent(database, alert_id, Purpose.ANSWER)
        bodies = {(message.to, message.body) for message in fan_out.twilio.messages}
    rows = await _priced(database, alert_id)
    expected_sms: dict[tuple[str, str, str | None], tuple[Any, ...]] = {}
    for to, body in bodies:
        purpose = Purpose.ANSWER if body == CONFIRMATION else Purpose.ALERT
        length = sms_length(body)
        if to == SWISS_PHONE:
            assert length.encoding == "UCS-2"  # Russian words: 70 units a segment, 67 if more
        expected_sms[purpose.value, "sms", to] = (
            "sent",
            length.segments,
            length.segments * _segment_price(to),
        )
    assert expected_sms[Purpose.ANSWER.value, "sms", SWISS_PHONE][1:] == (3, 3 * 78_800)
    assert {key: row for key, row in rows.items() if key[1] == "sms"} == expected_sms
    emails = [row for key, row in rows.items() if key[1] == "email"]
    assert emails == [("sent", None, 300)] * 3
    async with database.session(read_only=True) as session:
        alert = await alerts.get_alert(session, alert_id, ADMIN)
        costs = (await read_report(session, alert, "CHF")).costs
    assert costs is not None
    assert costs.sms_segments == sum(row[1] for row in expected_sms.values())
    assert costs.sms_micros == sum(row[2] for row in expected_sms.values())
    assert (costs.email_micros, costs.unpriced, costs.currency) == (900, 0, "CHF")
