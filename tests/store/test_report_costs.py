"""An alert's cost in its report, on SQLite and PostgreSQL: exact, and as it was when sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.channels.base import OutgoingEmail, OutgoingSms
from notifier.costs import Prices
from notifier.dispatch.pricing import Pricer
from notifier.domain import Channel, Role
from notifier.report_formats import report_json, report_lines
from notifier.report_page import report_html
from notifier.reports import AlertReport
from notifier.store import alerts, materialisation, outbox, sending
from notifier.store.engine import Database
from notifier.store.report_data import read_report
from notifier.store.sending import SentMessage
from notifier.store.tables import PERSON
from notifier.store.types import utc_now
from tests.seeding import nairobi_people, seed

ADMIN = Principal("admin", Role.ADMIN)
ROSTER = [
    *nairobi_people(2),
    "G1,Ivan Petrov,ivan@example.org,+41791234567,GVA,ru,",
    "G2,Anna Weber,anna@example.org,+41791234568,GVA,fr,",
]
SENT_BEFORE_PRICES = "+41791234568"
PRICES = Prices("CHF", 50_000, {"KE": 45_100, "CH": 78_800}, 300)
DEARER = Prices("CHF", 90_000, {"KE": 90_000, "CH": 90_000}, 9_000)
BODIES = {
    "+254": "Leave the building by the stairs. " * 5,  # GSM-7, 170 characters: 2 segments
    "+41": "Покиньте здание по лестнице. " * 3,  # UCS-2, 87 units: 2 segments, not 1
}
SMS_MICROS = 2 * 2 * 45_100 + 2 * 78_800  # two Kenyan SMS and one Swiss one, 2 segments each


async def _send_priced(database: Database, pricer: Pricer) -> int:
    """Raise an alert by SMS and e-mail to all four; record every message as sent, priced by
    `pricer`, but the SMS and e-mail to G2, recorded as if sent before prices were kept."""
    await seed(database, ROSTER)
    request = AlertRequest(title="Earthquake", message="Leave.", stations=("NBO", "GVA"))
    now = utc_now()
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    async with database.session() as session:
        assert (await materialisation.materialise_batch(session, alert.id, 100, now)).finished
    async with database.session() as session:
        contacts = select(PERSON.c.id, PERSON.c.phone, PERSON.c.email)
        people = {row.id: row for row in (await session.execute(contacts)).all()}
        claimed = [
            *await outbox.claim(session, Channel.SMS, 10, "w", now, timedelta(minutes=1)),
            *await outbox.claim(session, Channel.EMAIL, 10, "w", now, timedelta(minutes=1)),
        ]
    sent: list[SentMessage | tuple[int, str]] = []
    for delivery in claimed:
        phone, email = people[delivery.person].phone, people[delivery.person].email
        if phone == SENT_BEFORE_PRICES:
            sent.append((delivery.id, f"old-{delivery.id}"))
            continue
        if delivery.channel is Channel.SMS:
            body = next(text for prefix, text in BODIES.items() if phone.startswith(prefix))
            cost = pricer.cost(OutgoingSms(phone, body))
        else:
            cost = pricer.cost(OutgoingEmail(email, "Earthquake", "Leave.", "Leave.", "r@x.org"))
        sent.append(SentMessage(delivery.id, f"id-{delivery.id}", cost.segments, cost.micros))
    await database.run(lambda connection: sending.mark_sent(connection, sent, now))
    return alert.id


async def _report(database: Database, alert_id: int) -> AlertReport:
    async with database.session(read_only=True) as session:
        alert = await alerts.get_alert(session, alert_id, ADMIN)
        return await read_report(session, alert, "CHF")


async def test_the_cost_of_sms_to_two_countries_is_exact(database: Database) -> None:
    """Segments and prices per country add up exactly; what was sent unpriced is counted apart."""
    alert_id = await _send_priced(database, Pricer(PRICES))
    report = await _report(database, alert_id)
    async with database.session(read_only=True) as session:
        alert = await alerts.get_alert(session, alert_id, ADMIN)
    body = report_json(alert, report)
    assert body["sms_segments"] == 6
    assert body["cost"] == {
        "currency": "CHF",
        "sms": 0.338,
        "email": 0.0009,
        "whatsapp": 0.0,
        "voice": 0.0,
        "total": 0.3389,
        "unpriced": 2,
    }
    assert report.costs is not None and report.costs.sms_micros == SMS_MICROS == 338_000
    assert (
        "cost: CHF 0.3389 (SMS 0.338, 6 segments; e-mail 0.0009); 2 messages sent before "
        "prices were kept are not counted"
    ) in list(report_lines(alert, report))
    assert "<td>cost</td><td>CHF 0.3389 (SMS 0.338, 6 segments; e-mail 0.0009)" in report_html(
        alert, report, b"png"
    )


async def test_a_later_change_of_prices_leaves_the_report_as_it_was(database: Database) -> None:
    """The report shows what messages cost when sent, not what they would cost now."""
    alert_id = await _send_priced(database, Pricer(PRICES))
    before = await _report(database, alert_id)
    assert Pricer(DEARER).cost(OutgoingSms("+41791234567", BODIES["+41"])).micros == 180_000
    after = await _report(database, alert_id)
    assert after.costs == before.costs
    assert before.costs is not None and before.costs.total_micros == 338_900


async def test_an_alert_with_nothing_sent_costs_nothing(database: Database) -> None:
    """Before any message is sent, the report's cost is zero, with no segments."""
    await seed(database, ROSTER)
    request = AlertRequest(title="Earthquake", message="Leave.", stations=("NBO",))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    report = await _report(database, alert.id)
    assert report.costs is not None
    assert (report.costs.sms_segments, report.costs.total_micros, report.costs.unpriced) == (
        0,
        0,
        0,
    )
