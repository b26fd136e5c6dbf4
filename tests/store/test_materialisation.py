"""Which channels carry an alert to each person, decided in SQL, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Role
from notifier.store import alerts, materialisation
from notifier.store.engine import Database
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT
from tests.seeding import seed

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

# person id, e-mail, phone, number opted out
PEOPLE = [
    ("BOTH", "both@example.org", "+254722000001", False),
    ("MAIL", "mail@example.org", "", False),
    ("TEXT", "", "+254722000003", False),
    ("STOP", "stop@example.org", "+254722000004", True),
    ("GONE", "", "+254722000005", True),
]

SMS, EMAIL = Channel.SMS, Channel.EMAIL


@pytest.mark.parametrize(
    ("chosen", "expected", "opted_out"),
    [
        (
            (SMS,),
            # Without a usable number, the e-mail carries it; an opted-out number with no
            # address reaches nobody.
            {"BOTH": {"sms"}, "MAIL": {"email"}, "TEXT": {"sms"}, "STOP": {"email"}},
            2,
        ),
        (
            (EMAIL,),
            {"BOTH": {"email"}, "MAIL": {"email"}, "TEXT": {"sms"}, "STOP": {"email"}},
            0,
        ),
        (
            (SMS, EMAIL),
            {"BOTH": {"sms", "email"}, "MAIL": {"email"}, "TEXT": {"sms"}, "STOP": {"email"}},
            2,
        ),
    ],
    ids=["sms", "email", "both"],
)
async def test_each_person_is_reached_on_the_channels_the_rule_gives(
    database: Database,
    chosen: tuple[Channel, ...],
    expected: dict[str, set[str]],
    opted_out: int,
) -> None:
    await seed(
        database, [f"{pid},Person {pid},{mail},{phone},NBO,en," for pid, mail, phone, _ in PEOPLE]
    )
    async with database.session() as session:
        stopped = [pid for pid, *_, stop in PEOPLE if stop]
        await session.execute(
            update(PERSON).where(PERSON.c.person_id.in_(stopped)).values(sms_opted_out=True)
        )
        alert = await alerts.create_alert(
            session,
            AlertRequest("Flood", "Go to the upper floors.", stations=("NBO",), channels=chosen),
            Principal("officer", Role.ADMIN),
        )
        assert alert.id is not None
        done = await materialisation.materialise_batch(session, alert.id, 2, NOW)
        while not done.finished:
            done = await materialisation.materialise_batch(session, alert.id, 2, NOW)
        deliveries = (
            await session.execute(
                select(PERSON.c.person_id, DELIVERY.c.channel).join(
                    PERSON, PERSON.c.id == DELIVERY.c.person
                )
            )
        ).all()
        reached = set(
            (
                await session.execute(
                    select(PERSON.c.person_id).join(RECIPIENT, RECIPIENT.c.person == PERSON.c.id)
                )
            ).scalars()
        )
        counts = (
            await session.execute(
                select(ALERT.c.recipients, ALERT.c.skipped_opted_out).where(ALERT.c.id == alert.id)
            )
        ).one()
    got: dict[str, set[str]] = {}
    for person, channel in deliveries:
        got.setdefault(person, set()).add(channel)
    assert got == expected
    assert reached == set(expected)
    assert tuple(counts) == (len(expected), opted_out)
