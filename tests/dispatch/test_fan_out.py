"""Fan-out end to end: the outbox, the real SMTP and Twilio clients, fake providers on loopback."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select, text

from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Language
from notifier.store.engine import Database
from notifier.store.tables import ALERT, DELIVERY
from tests.dispatch.harness import running_fan_out
from tests.fakes.twilio_server import Failure
from tests.seeding import seed

LANGUAGES = list(Language)
PHONE = {"NBO": "+25472{:07d}", "GVA": "+4179{:07d}", "BEY": "+9613{:06d}"}


def _roster(count: int) -> list[str]:
    rows = []
    for index in range(count):
        station = ("NBO", "GVA", "BEY")[index % 3]
        phone = PHONE[station].format(index % 1_000_000)
        language = LANGUAGES[index % len(LANGUAGES)].value
        rows.append(
            f"F{index:05d},Person {index},f{index}@example.org,{phone},{station},{language},"
        )
    return rows


async def _deliveries(database: Database, alert_id: int) -> list[tuple[str, str, int]]:
    async with database.session() as session:
        query = select(DELIVERY.c.channel, DELIVERY.c.status, DELIVERY.c.attempts).where(
            DELIVERY.c.alert_id == alert_id
        )
        return [
            (row.channel, row.status, row.attempts) for row in (await session.execute(query)).all()
        ]


async def test_500_people_get_one_sms_and_one_email_each_in_their_language(
    database: Database,
) -> None:
    """Every person of three stations receives exactly one SMS and one e-mail, in their language."""
    roster = _roster(500)
    await seed(database, roster)
    async with running_fan_out(database) as fan_out:
        alert_id = await fan_out.raise_alert(
            AlertRequest(
                title="Earthquake",
                message="Leave the building now.",
                stations=("NBO", "GVA", "BEY"),
            )
        )
        await fan_out.until_dispatched(alert_id)
        sms = list(fan_out.twilio.messages)
        mail = list(fan_out.smtp.messages)
    assert len(sms) == 500
    assert len(mail) == 500
    assert max(Counter(message.to for message in sms).values()) == 1
    assert max(Counter(message.rcpt_tos for message in mail).values()) == 1
    by_number = {message.to: message.body for message in sms}
    by_address = {message.rcpt_tos[0]: message.message for message in mail}
    for row in roster:
        person_id, _, email, phone, _, language, _ = row.split(",")
        reply = fan_out.templates.strings[Language(language)]["sms.reply"]
        assert reply in by_number[phone], (person_id, language)
        assert by_address[email]["Reply-To"].startswith("ack+")
        plain = by_address[email].get_body(("plain",))
        assert plain is not None
        assert fan_out.templates.strings[Language(language)]["email.reply"] in plain.get_content()
    states = Counter(
        (channel, status) for channel, status, _ in await _deliveries(database, alert_id)
    )
    assert states == {("sms", "sent"): 500, ("email", "sent"): 500}


async def test_each_sms_asks_for_status_callbacks_naming_its_delivery(database: Database) -> None:
    """Twilio is asked to call back at `…/webhooks/twilio/status?delivery=ID` for each SMS."""
    await seed(database, _roster(30))
    async with running_fan_out(database) as fan_out:
        alert_id = await fan_out.raise_alert(
            AlertRequest(title="Fire", message="Leave now.", stations=("NBO", "GVA", "BEY"))
        )
        await fan_out.until_dispatched(alert_id)
        callbacks = {message.sid: message.status_callback for message in fan_out.twilio.messages}
    async with database.session() as session:
        query = select(DELIVERY.c.id, DELIVERY.c.provider_id).where(DELIVERY.c.channel == "sms")
        sent = (await session.execute(query)).all()
    assert len(sent) == len(callbacks) == 30
    for delivery_id, sid in sent:
        assert callbacks[sid] == f"http://127.0.0.1:9/webhooks/twilio/status?delivery={delivery_id}"


async def test_permanent_sms_failure_fails_over_to_email(database: Database) -> None:
    """An invalid number (21211) fails the SMS at once and the alert goes by e-mail instead."""
    await seed(database, ["P1,Amina Yusuf,amina@example.org,+254722000001,NBO,en,"])
    async with running_fan_out(database) as fan_out:
        fan_out.twilio.fail_for("+254722000001", Failure.INVALID_NUMBER)
        alert_id = await fan_out.raise_alert(
            AlertRequest(
                title="Lockdown", message="Stay inside.", stations=("NBO",), channels=(Channel.SMS,)
            )
        )
        await fan_out.until_dispatched(alert_id)
        assert [message.rcpt_tos for message in fan_out.smtp.messages] == [("amina@example.org",)]
    assert sorted(await _deliveries(database, alert_id)) == [
        ("email", "sent", 1),
        ("sms", "failed", 1),
    ]


async def test_transient_sms_errors_are_retried_until_sent(database: Database) -> None:
    """429 and 500 from Twilio are retried with backoff; the SMS is sent once, at the third try."""
    await seed(database, ["P1,Amina Yusuf,,+254722000001,NBO,en,"])
    async with running_fan_out(database) as fan_out:
        fan_out.twilio.fail_next(Failure.RATE_LIMITED)
        fan_out.twilio.fail_next(Failure.SERVER_ERROR)
        alert_id = await fan_out.raise_alert(
            AlertRequest(title="Fire", message="Evacuate.", stations=("NBO",))
        )
        await fan_out.until_dispatched(alert_id, seconds=15)
        assert len(fan_out.twilio.messages) == 1
    assert await _deliveries(database, alert_id) == [("sms", "sent", 3)]


async def test_smtp_temporary_failures_are_retried(database: Database) -> None:
    """421 and 451 at DATA are retried; the e-mail arrives once."""
    await seed(database, ["P1,Hélène Dubois,helene@example.org,,GVA,fr,"])
    async with running_fan_out(database) as fan_out:
        fan_out.smtp.answer_data(421, "4.3.2 service shutting down")
        fan_out.smtp.answer_data(451, "4.3.0 try again later")
        alert_id = await fan_out.raise_alert(
            AlertRequest(title="Flood", message="Go upstairs.", stations=("GVA",))
        )
        await fan_out.until_dispatched(alert_id)
        assert len(fan_out.smtp.messages) == 1
        subject = fan_out.smtp.messages[0].message["Subject"]
    assert "Flood" in subject
    assert await _deliveries(database, alert_id) == [("email", "sent", 3)]


async def test_refused_recipient_fails_over_to_sms(database: Database) -> None:
    """A 550 for the address fails the e-mail at once and the alert goes by SMS instead."""
    await seed(database, ["P1,Ivan Petrov,ivan@example.org,+41791234567,GVA,ru,"])
    async with running_fan_out(database) as fan_out:
        fan_out.smtp.refuse_recipient("ivan@example.org")
        alert_id = await fan_out.raise_alert(
            AlertRequest(
                title="Storm", message="Stay home.", stations=("GVA",), channels=(Channel.EMAIL,)
            )
        )
        await fan_out.until_dispatched(alert_id)
        assert [message.to for message in fan_out.twilio.messages] == ["+41791234567"]
    assert sorted(await _deliveries(database, alert_id)) == [
        ("email", "failed", 1),
        ("sms", "sent", 1),
    ]


async def test_exhausted_retries_fail_and_fail_over(database: Database) -> None:
    """A provider that keeps failing transiently fails the delivery after max_attempts."""
    await seed(database, ["P1,Amina Yusuf,amina@example.org,+254722000001,NBO,en,"])
    async with running_fan_out(database, max_attempts="2") as fan_out:
        fan_out.twilio.fail_next(Failure.SERVER_ERROR, count=5)
        alert_id = await fan_out.raise_alert(
            AlertRequest(
                title="Fire", message="Evacuate.", stations=("NBO",), channels=(Channel.SMS,)
            )
        )
        await fan_out.until_dispatched(alert_id)
    assert sorted(await _deliveries(database, alert_id)) == [
        ("email", "sent", 1),
        ("sms", "failed", 2),
    ]
    async with database.session() as session:
        status = (await session.execute(select(ALERT.c.status))).scalar()
    assert status == "dispatched"


async def test_the_planner_learns_of_the_alert_once_it_is_in_the_outbox(
    database: Database,
) -> None:
    """On PostgreSQL the dispatcher has the outbox tables analysed as it fills them, without
    waiting for autovacuum (`notifier.store.statistics`); elsewhere nothing is asked."""
    await seed(database, _roster(300))
    async with running_fan_out(database) as fan_out:
        alert_id = await fan_out.raise_alert(
            AlertRequest(title="Earthquake", message="Leave now.", stations=("NBO", "GVA", "BEY"))
        )
        await fan_out.until_dispatched(alert_id)
        if database.direct is None:
            return
        for _ in range(50):  # the refresh runs beside the dispatch: it may still be under way
            if await analysed_tables(database) == ["delivery", "recipient"]:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"analysed: {await analysed_tables(database)}")


async def analysed_tables(database: Database) -> list[str]:
    """Which of the outbox tables have been analysed on request (autovacuum's not counted)."""
    async with database.session(read_only=True) as session:
        analysed = await session.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables"
                " WHERE relname IN ('recipient', 'delivery') AND analyze_count > 0"
            )
        )
        return sorted(analysed.scalars())
