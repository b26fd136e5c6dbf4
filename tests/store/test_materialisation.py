"""Which channels carry an alert to each person, decided in SQL, on both databases."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Purpose, Role
from notifier.store import alerts, materialisation
from notifier.store.answer_batch import queue_notices
from notifier.store.engine import Database
from notifier.store.outbox import Notice
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT
from tests.seeding import nairobi_people, seed

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


# person id, their channels (the roster's column), number opted out; all have both contacts
CHOOSERS = [
    ("PLAIN", "", False),  # none listed: SMS and e-mail
    ("CHAT", "whatsapp,email", False),
    ("CALLME", "voice,email", False),
    ("CHATONLY", "whatsapp", False),
    ("MAILONLY", "email", False),
    ("TEXTFIRST", "sms,whatsapp", False),
    ("STOPPED", "sms,email", True),
    ("STOPCHAT", "sms,whatsapp", True),
]


async def _channels_reached(
    database: Database, chosen: tuple[Channel, ...], *, whatsapp: bool, voice: bool = False
) -> dict[str, set[str]]:
    """Materialise an alert on `chosen` for the CHOOSERS; the channels each person got."""
    await seed(
        database,
        [
            f"{pid},Person {pid},{pid.lower()}@example.org,+2547220{n:05d},NBO,en,"
            for n, (pid, *_) in enumerate(CHOOSERS)
        ],
    )
    async with database.session() as session:
        for pid, listed, stop in CHOOSERS:
            await session.execute(
                update(PERSON)
                .where(PERSON.c.person_id == pid)
                .values(channels=listed, sms_opted_out=stop)
            )
        alert = await alerts.create_alert(
            session,
            AlertRequest("Flood", "Go to the upper floors.", stations=("NBO",), channels=chosen),
            Principal("officer", Role.ADMIN),
        )
        assert alert.id is not None
        sending = materialisation.BASIC | ({Channel.WHATSAPP} if whatsapp else set())
        sending |= {Channel.VOICE} if voice else set()
        done = await materialisation.materialise_batch(session, alert.id, 3, NOW, sending=sending)
        while not done.finished:
            done = await materialisation.materialise_batch(
                session, alert.id, 3, NOW, sending=sending
            )
        rows = await session.execute(
            select(PERSON.c.person_id, DELIVERY.c.channel).join(
                PERSON, PERSON.c.id == DELIVERY.c.person
            )
        )
        got: dict[str, set[str]] = {}
        for person, channel in rows:
            got.setdefault(person, set()).add(channel)
    return got


@pytest.mark.parametrize(
    ("chosen", "whatsapp", "expected"),
    [
        (
            (SMS, EMAIL),
            True,
            {
                "PLAIN": {"sms", "email"},
                "CHAT": {"whatsapp", "email"},
                "CHATONLY": {"whatsapp"},
                "MAILONLY": {"email"},
                "CALLME": {"email"},  # no calls placed here
                "TEXTFIRST": {"sms", "whatsapp"},
                "STOPPED": {"email"},
                "STOPCHAT": {"whatsapp"},  # the opt-out is SMS's alone
            },
        ),
        (
            (SMS,),
            True,
            {
                "PLAIN": {"sms"},
                "CHAT": {"whatsapp"},
                "CHATONLY": {"whatsapp"},
                "MAILONLY": {"email"},
                "CALLME": {
                    "email"
                },  # no calls placed here  # their one channel carries nothing chosen: it falls back
                "TEXTFIRST": {"sms", "whatsapp"},
                "STOPPED": {"email"},
                "STOPCHAT": {"whatsapp"},
            },
        ),
        (
            (EMAIL,),
            True,
            {
                "PLAIN": {"email"},
                "CHAT": {"email"},
                "CHATONLY": {"whatsapp"},  # the first of their own channels that reaches them
                "MAILONLY": {"email"},
                "CALLME": {"email"},  # no calls placed here
                "TEXTFIRST": {"sms"},  # their order: SMS before WhatsApp
                "STOPPED": {"email"},
                "STOPCHAT": {"whatsapp"},  # SMS first, but opted out
            },
        ),
        (
            (SMS, EMAIL),
            False,  # no WhatsApp sender: who chose it gets SMS in its place
            {
                "PLAIN": {"sms", "email"},
                "CHAT": {"sms", "email"},
                "CHATONLY": {"sms"},
                "MAILONLY": {"email"},
                "CALLME": {"email"},  # no calls placed here
                "TEXTFIRST": {"sms"},
                "STOPPED": {"email"},
                "STOPCHAT": {"email"},  # none of their own reaches them: e-mail, the last resort
            },
        ),
    ],
    ids=["both", "sms", "email", "no-whatsapp"],
)
async def test_the_persons_channels_in_their_order(
    database: Database,
    chosen: tuple[Channel, ...],
    whatsapp: bool,
    expected: dict[str, set[str]],
) -> None:
    got = await _channels_reached(database, chosen, whatsapp=whatsapp)
    assert got == {person: channels for person, channels in expected.items() if channels}


async def test_an_officers_call_goes_to_everyone_with_a_phone(database: Database) -> None:
    """Voice chosen by the officer calls everyone with a phone, an SMS opt-out or not."""
    got = await _channels_reached(database, (Channel.VOICE,), whatsapp=True, voice=True)
    assert {person: channels for person, channels in got.items()} == {
        person: {"voice"} for person, *_ in CHOOSERS
    }


async def test_who_lists_voice_is_called_for_an_officers_sms(database: Database) -> None:
    got = await _channels_reached(database, (SMS, EMAIL), whatsapp=True, voice=True)
    assert got["CALLME"] == {"voice", "email"}
    assert got["PLAIN"] == {"sms", "email"}


@pytest.mark.postgres
async def test_an_alert_held_by_another_replicas_batch_is_passed_over_at_once(
    asyncpg_database: Database,
) -> None:
    """Another replica's batch holds the alert's row until it commits: a batch here returns
    at once, busy, writing nothing, and a confirmation that names the alert is queued
    meanwhile; once the other batch is over, the batch here goes on."""
    database = asyncpg_database
    await seed(database, nairobi_people(30))
    request = AlertRequest(title="Fire", message="Leave.", stations=("NBO",), channels=(SMS,))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("officer", Role.ADMIN))
    assert alert.id is not None
    alert_id = alert.id

    def batch(connection: Connection) -> materialisation.Materialised:
        return materialisation.materialise(connection, alert_id, 10, NOW)

    async with database.engine.connect() as other:  # another replica, its batch not committed
        held = await other.run_sync(batch)
        assert (held.recipients, held.busy) == (10, False)
        started = time.monotonic()
        passed_over = await asyncio.wait_for(database.run(batch), 5)
        assert time.monotonic() - started < 1, "the batch waited for the other replica's"
        assert passed_over == materialisation.Materialised(0, 0, False, busy=True)
        person = (await other.execute(select(PERSON.c.id).limit(1))).scalar_one()
        notice = Notice(alert_id, person, SMS, Purpose.ANSWER, 1, "Thank you.")
        await asyncio.wait_for(database.run(lambda c: queue_notices(c, [notice], NOW)), 5)
        await other.commit()
    done = await database.run(batch)
    assert (done.recipients, done.busy) == (10, False), "the next ten people"
