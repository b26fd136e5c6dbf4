"""An alert's preview tells what dispatching it then sends: the same words, segments and cost."""

from __future__ import annotations

from sqlalchemy import func, select

from notifier.alert_preview import preview_alert
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Language
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON
from tests.dispatch.harness import ADMIN, fan_out_settings, running_fan_out
from tests.seeding import nairobi_people, seed

PRICES = {
    "NOTIFIER_COSTS__CURRENCY": "CHF",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICE": "0.05",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__KE": "0.0451",
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__CH": "0.0788",
    # +1 is shared by countries now priced apart: its numbers are priced one by one.
    "NOTIFIER_COSTS__SMS_SEGMENT_PRICES__CA": "0.0075",
    "NOTIFIER_COSTS__EMAIL_PRICE": "0.0003",
}
ROSTER = [
    *nairobi_people(2),
    "R1,Ivan Petrov,ivan@example.org,+41791234567,NBO,ru,",
    "Z1,Li Wei,,+12025550123,NBO,zh,",  # the United States: the default price
    "C1,Marie Tremblay,marie@example.org,+14165550123,NBO,fr,",  # Canada: its own price
    "E1,Only Mail,e1@example.org,,NBO,es,",
]
REQUEST = AlertRequest(
    title="Earthquake",
    message="Leave the building now and gather at the assembly point by the main gate. " * 2,
    stations=("NBO",),
)


async def test_preview_matches_what_the_providers_receive_and_cost(database: Database) -> None:
    """Every SMS the fake Twilio server receives is the preview's text for that language."""
    await seed(database, ROSTER)
    async with running_fan_out(database, more=PRICES) as fan_out:
        settings = fan_out_settings(fan_out.smtp.port, fan_out.twilio.base_url, more=PRICES)
        async with database.session(read_only=True) as session:
            preview = await preview_alert(session, REQUEST, ADMIN, settings, fan_out.templates)
        alert_id = await fan_out.raise_alert(REQUEST)
        await fan_out.until_dispatched(alert_id)
        received = {message.to: message.body for message in fan_out.twilio.messages}
    async with database.session(read_only=True) as session:
        people = await session.execute(select(PERSON.c.phone, PERSON.c.language))
        languages = {phone: language for phone, language in people.all()}
        d = DELIVERY.c
        spent = (
            await session.execute(
                select(d.channel, func.count(), func.sum(d.segments), func.sum(d.cost_micros))
                .where(d.alert_id == alert_id)
                .group_by(d.channel)
            )
        ).all()
    texts = {row.language: row for row in preview.languages}
    assert set(texts) == {Language.EN, Language.RU, Language.ZH, Language.FR, Language.ES}
    assert texts[Language.RU].encoding == texts[Language.ZH].encoding == "UCS-2"
    assert texts[Language.EN].encoding == "GSM-7"
    assert {to: texts[Language(languages[to])].sms_text for to in received} == received
    assert len(received) == preview.sms == 5
    by_channel = {channel: (count, segments, micros) for channel, count, segments, micros in spent}
    assert by_channel[Channel.SMS.value] == (
        preview.sms,
        preview.cost.sms_segments,
        preview.cost.sms_micros,
    )
    assert by_channel[Channel.EMAIL.value] == (preview.email, None, preview.cost.email_micros)
    assert (preview.recipients, preview.email, preview.unreachable) == (6, 5, 0)
