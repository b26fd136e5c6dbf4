"""An alert's report read from the store, on SQLite and PostgreSQL: every figure exact."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from notifier.report_formats import report_json
from notifier.reports import Reach
from notifier.store import alerts
from notifier.store.engine import Database
from notifier.store.report_data import read_report
from notifier.store.tables import DELIVERY, PERSON
from notifier.store.types import utc_now
from tests.report_alert import ADMIN, INVALID_NUMBER, MAILBOX, raise_known_alert


async def test_report_of_known_answers_gives_exact_figures(database: Database) -> None:
    """Counts, nearest-rank percentiles, stations, curve, failures and the people not answered."""
    alert_id = await raise_known_alert(database)
    async with database.session(read_only=True) as session:
        alert = await alerts.get_alert(session, alert_id, ADMIN)
        body = report_json(alert, await read_report(session, alert, "USD"))
    assert body["alert"]["id"] == alert_id
    assert body["recipients"] == 12
    assert body["reached"] == {
        "sms": {"sent": 8, "delivered": 8, "failed": 2},
        "email": {"sent": 11, "delivered": 0, "failed": 1},
        "whatsapp": {"sent": 0, "delivered": 0, "failed": 0},
        "voice": {"sent": 0, "delivered": 0, "failed": 0},
        "any": 11,
    }
    assert (body["acknowledged"], body["acknowledged_percent"]) == (9, 75.0)
    assert body["responses"] == {"safe": 7, "help": 1, "other": 1}
    assert body["time_to_acknowledge"] == {"p50": 40.0, "p90": 80.0, "p99": 80.0}
    assert body["by_station"] == [
        {"station": "GVA", "recipients": 2, "acknowledged": 1, "p50": 30.0, "p90": 30.0},
        {"station": "NBO", "recipients": 10, "acknowledged": 8, "p50": 40.0, "p90": 80.0},
    ]
    assert body["curve"] == [
        [10.0, 1],
        [20.0, 2],
        [30.0, 4],
        [40.0, 5],
        [50.0, 6],
        [60.0, 7],
        [70.0, 8],
        [80.0, 9],
    ]
    assert body["failures"] == [
        {"reason": INVALID_NUMBER, "count": 2},
        {"reason": MAILBOX, "count": 1},
    ]
    assert body["not_answered"] == [
        {"person_id": "G2", "name": "Jean Martin", "station": "GVA", "phone": None,
         "email": "jean@example.org"},
        {"person_id": "N00008", "name": "Person 8", "station": "NBO", "phone": "+254720000008",
         "email": "n8@example.org"},
        {"person_id": "N00009", "name": "Person 9", "station": "NBO", "phone": "+254720000009",
         "email": "n9@example.org"},
    ]  # fmt: skip
    assert body["sms_segments"] == 0  # the seeding records sends without their prices
    assert body["cost"] == {
        "currency": "USD",
        "sms": 0,
        "email": 0,
        "whatsapp": 0,
        "voice": 0,
        "total": 0,
        "unpriced": 0,
    }


async def test_a_channel_state_is_the_best_of_its_messages(database: Database) -> None:
    """A failed first SMS and a delivered escalation count as delivered; both failures count."""
    alert_id = await raise_known_alert(database)
    d = DELIVERY.c
    async with database.session() as session:
        person = await session.scalar(select(PERSON.c.id).where(PERSON.c.person_id == "N00008"))
        await session.execute(
            insert(DELIVERY).values(
                alert_id=alert_id, person=person, channel="sms", purpose="alert", round=1,
                status="delivered", next_attempt_at=utc_now(), created_at=utc_now(),
            )
        )  # fmt: skip
        await session.execute(
            update(DELIVERY)
            .where(d.alert_id == alert_id, d.purpose == "answer")
            .values(status="failed", last_error="not an alert message")
        )
    async with database.session(read_only=True) as session:
        alert = await alerts.get_alert(session, alert_id, ADMIN)
        report = await read_report(session, alert, "USD")
    assert report.reached["sms"] == Reach(sent=9, delivered=9, failed=1)
    assert report.failures == [(INVALID_NUMBER, 2), (MAILBOX, 1)]
