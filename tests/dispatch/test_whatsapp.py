"""WhatsApp through the real Twilio channel: to those who chose it in the roster, priced."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select, update

from notifier.alert_request import AlertRequest
from notifier.store.engine import Database
from notifier.store.report_data import message_costs
from notifier.store.tables import DELIVERY, PERSON
from tests.dispatch.harness import running_fan_out
from tests.seeding import nairobi_people, seed

WHATSAPP_FROM = "+14155238886"
WITH_WHATSAPP = {
    "NOTIFIER_SMS__WHATSAPP_FROM": f"whatsapp:{WHATSAPP_FROM}",  # the prefix may be written
    "NOTIFIER_COSTS__CURRENCY": "USD",
    "NOTIFIER_COSTS__WHATSAPP_PRICE": "0.005",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICE": "0.05",
}
CHOICES = {"N00000": "whatsapp,email", "N00001": "whatsapp", "N00002": "email"}
"""The people who chose their channels; N00003 to N00005 chose none (SMS and e-mail)."""
QUAKE = AlertRequest("Earthquake", "Leave the building.", stations=("NBO",))


async def _seed(database: Database) -> None:
    await seed(database, nairobi_people(6))
    async with database.session() as session:
        for person, channels in CHOICES.items():
            await session.execute(
                update(PERSON).where(PERSON.c.person_id == person).values(channels=channels)
            )


def _number(person: int) -> str:
    return f"+25472{person:07d}"


async def test_whatsapp_goes_to_those_who_chose_it_and_others_are_untouched(
    database: Database,
) -> None:
    await _seed(database)
    async with running_fan_out(database, more=WITH_WHATSAPP) as fan_out:
        alert_id = await fan_out.raise_alert(QUAKE)
        await fan_out.until_dispatched(alert_id)
        twilio, smtp = fan_out.twilio, fan_out.smtp
    chats = [m for m in twilio.messages if m.to.startswith("whatsapp:")]
    texts = [m for m in twilio.messages if not m.to.startswith("whatsapp:")]
    assert sorted(m.to for m in chats) == [f"whatsapp:{_number(0)}", f"whatsapp:{_number(1)}"]
    assert {m.from_ for m in chats} == {f"whatsapp:{WHATSAPP_FROM}"}
    assert sorted(m.to for m in texts) == [_number(3), _number(4), _number(5)]
    assert {m.from_ for m in texts} == {"+15005550006"}
    assert all("Leave the building." in m.body for m in twilio.messages)
    mailed = Counter(recipient for m in smtp.messages for recipient in m.rcpt_tos)
    assert sorted(mailed) == [f"n{i}@example.org" for i in (0, 2, 3, 4, 5)]
    async with database.session() as session:
        costs = await message_costs(session, alert_id, "USD")
        priced = (
            await session.execute(
                select(DELIVERY.c.cost_micros, DELIVERY.c.segments).where(
                    DELIVERY.c.channel == "whatsapp"
                )
            )
        ).all()
    assert priced == [(5000, None), (5000, None)]
    assert costs.whatsapp_micros == 10_000
    assert costs.sms_micros == 3 * 50_000


async def test_without_a_whatsapp_sender_who_chose_it_gets_sms(database: Database) -> None:
    await _seed(database)
    async with running_fan_out(database) as fan_out:
        alert_id = await fan_out.raise_alert(QUAKE)
        await fan_out.until_dispatched(alert_id)
        twilio = fan_out.twilio
    assert sorted(m.to for m in twilio.messages) == [_number(i) for i in (0, 1, 3, 4, 5)]
