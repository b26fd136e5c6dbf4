"""An alert with known answers at known times and known failures, for the report's tests.

Ten people at NBO (phone and e-mail) and two at GVA (e-mail only). N00000 to N00007 answer
10, 20, … 80 s after the alert (N00000 needs help, N00001 writes words, the others are safe),
G1 answers after 30 s; N00008, N00009 and G2 never answer. SMS reaches everyone but N00008
and N00009 (an invalid number); e-mail is accepted for all but G2 (mailbox unavailable).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, ResponseKind, Role
from notifier.store import alerts, materialisation, responses
from notifier.store.engine import Database
from notifier.store.responses import Answer
from notifier.store.tables import DELIVERY, PERSON
from notifier.store.types import utc_now
from tests.seeding import nairobi_people, seed

ADMIN = Principal("admin", Role.ADMIN)
ROSTER = [
    *nairobi_people(10),
    "G1,Hélène Dubois,helene@example.org,,GVA,fr,",
    "G2,Jean Martin,jean@example.org,,GVA,fr,",
]
ANSWERS = {
    **{f"N{index:05d}": (ResponseKind.SAFE, "1", 10 * (index + 1)) for index in range(2, 8)},
    "N00000": (ResponseKind.HELP, "2", 10),
    "N00001": (ResponseKind.OTHER, "my leg is broken", 20),
    "G1": (ResponseKind.SAFE, "1", 30),
}
INVALID_NUMBER = "Twilio 21211: invalid 'To' phone number"
MAILBOX = "550 5.1.1 mailbox unavailable"


async def raise_known_alert(database: Database, title: str = "Earthquake") -> int:
    """Seed the roster, raise the alert to NBO and GVA, record the answers and the sends."""
    await seed(database, ROSTER)
    request = AlertRequest(title=title, message="Leave the building.", stations=("NBO", "GVA"))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    async with database.session() as session:
        done = await materialisation.materialise_batch(session, alert.id, 100, utc_now())
        assert done.finished
        ids = dict((await session.execute(select(PERSON.c.person_id, PERSON.c.id))).all())
    for person_id, (kind, text, after) in ANSWERS.items():
        async with database.session() as session:
            answer = Answer(alert.id, ids[person_id], kind, Channel.SMS, text)
            await responses.record_answer(
                session, answer, alert.created_at + timedelta(seconds=after)
            )
    failing_sms = [ids["N00008"], ids["N00009"]]
    d = DELIVERY.c
    async with database.session() as session:
        mine = (d.alert_id == alert.id) & (d.purpose == "alert")
        sms, email = mine & (d.channel == "sms"), mine & (d.channel == "email")
        await session.execute(update(DELIVERY).where(sms).values(status="delivered"))
        await session.execute(update(DELIVERY).where(email).values(status="sent"))
        await session.execute(
            update(DELIVERY)
            .where(sms, d.person.in_(failing_sms))
            .values(status="failed", last_error=INVALID_NUMBER)
        )
        await session.execute(
            update(DELIVERY)
            .where(email, d.person == ids["G2"])
            .values(status="failed", last_error=MAILBOX)
        )
    return alert.id
