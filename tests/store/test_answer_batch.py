"""Answers recorded in one batch end exactly as when recorded one by one, on both databases."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Purpose, ResponseKind, Role
from notifier.inbound.sms_batch import open_alerts_for_phones
from notifier.store import alerts, answer_batch, materialisation, responses
from notifier.store.engine import Database
from notifier.store.outbox import Notice
from notifier.store.responses import Answer, Outcome
from notifier.store.tables import DELIVERY, PERSON, RECIPIENT, RESPONSE
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.ADMIN)
SAFE, HELP, OTHER = ResponseKind.SAFE, ResponseKind.HELP, ResponseKind.OTHER
PEOPLE = 6


async def _alert(database: Database, title: str) -> int:
    """An alert to NBO's people, its recipients listed."""
    request = AlertRequest(title=title, message="Leave the building.", stations=("NBO",))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    async with database.session() as session:
        while not (await materialisation.materialise_batch(session, alert.id, 100, NOW)).finished:
            pass
    return alert.id


async def _people(database: Database) -> list[int]:
    async with database.session(read_only=True) as session:
        found = await session.execute(select(PERSON.c.id).order_by(PERSON.c.id))
        return list(found.scalars())


async def _state(database: Database, alert_id: int) -> dict[int, tuple[str | None, int]]:
    """Each recipient's current response and the length of their history."""
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            select(RECIPIENT.c.person, RECIPIENT.c.response).where(RECIPIENT.c.alert_id == alert_id)
        )
        counts = await session.execute(
            select(RESPONSE.c.person, func.count())
            .where(RESPONSE.c.alert_id == alert_id)
            .group_by(RESPONSE.c.person)
        )
        history = {person: n for person, n in counts.all()}
        return {person: (response, history.get(person, 0)) for person, response in rows}


def _script(
    people: list[int], stranger: int, seed_: int
) -> list[tuple[int, ResponseKind, str, str | None]]:
    """A mixed batch: repeated people, neutral words after help, empty texts, a replayed
    provider id (within the batch), and someone not sent the alert."""
    rng = random.Random(seed_)
    script: list[tuple[int, ResponseKind, str, str | None]] = []
    for number in range(40):
        person = rng.choice([*people, stranger])
        kind = rng.choice([SAFE, HELP, OTHER, OTHER])
        text = rng.choice(["", "  ", "come quickly", "2", "ok"])
        provider = rng.choice([None, f"SM{number:04d}", "SM0003"])
        script.append((person, kind, text, provider))
    return script


@pytest.mark.parametrize("lookup", [False, True], ids=["read", "known from the lookup"])
@pytest.mark.parametrize("seed_", [1, 2, 3])
async def test_a_batch_ends_as_answers_one_by_one(
    database: Database, seed_: int, lookup: bool
) -> None:
    """Outcomes, answer numbers, current responses and histories are those of the same
    answers recorded one at a time with `record_answer` (to a twin alert), whether the batch
    reads the recipients itself or is given them by the SMS replies' lookup of their phones."""
    everyone = [*nairobi_people(PEOPLE), "G00001,Hélène Dubois,h@example.org,+41791234567,GVA,fr,"]
    await seed(database, everyone)
    one_by_one, batched = await _alert(database, "One by one"), await _alert(database, "Batch")
    *people, stranger = await _people(database)
    script = _script(people, stranger, seed_)
    expected: list[tuple[Outcome, int]] = []
    for person, kind, text, provider in script:
        answer = Answer(one_by_one, person, kind, Channel.SMS, text, provider and f"a{provider}")
        async with database.session() as session:
            outcome = await responses.record_answer(session, answer, NOW)
            recorded = outcome in (Outcome.RECORDED, Outcome.HELP_STANDS)
            number = await responses.answers_so_far(session, one_by_one, person)
        expected.append((outcome, number if recorded else 0))
    batch = [
        Answer(batched, person, kind, Channel.SMS, text, provider and f"b{provider}")
        for person, kind, text, provider in script
    ]

    def record(connection: Connection) -> list[answer_batch.Recorded]:
        known = None
        if lookup:
            phones = [row[3] for row in (line.split(",") for line in everyone)]
            known = open_alerts_for_phones(connection, phones).responses
        return answer_batch.record_answers(connection, batch, NOW, known=known)

    got = await database.run(record)
    assert [(r.outcome, r.answers) for r in got] == expected
    assert await _state(database, batched) == await _state(database, one_by_one)
    assert {Outcome.DUPLICATE, Outcome.NOT_RECIPIENT, Outcome.EMPTY} <= {o for o, _ in expected}


async def test_neutral_words_keep_help_recorded_in_between(database: Database) -> None:
    """A batch of only neutral words keeps the "needs help" the row holds when it runs, even
    one recorded after the batch read it (another replica's answer, at the same moment)."""
    await seed(database, nairobi_people(1))
    alert_id = await _alert(database, "Flood")
    [person] = await _people(database)
    async with database.session() as session:
        await responses.record_answer(session, Answer(alert_id, person, HELP, Channel.SMS), NOW)
    words = [Answer(alert_id, person, OTHER, Channel.SMS, "come quickly")]
    [recorded] = await database.run(
        lambda connection: answer_batch.record_answers(connection, words, NOW)
    )
    assert recorded.outcome is Outcome.HELP_STANDS
    assert (await _state(database, alert_id))[person] == (HELP.value, 2)


async def test_notices_are_queued_once_as_urgent_as_their_alert(database: Database) -> None:
    """Confirmations go into the outbox at their alert's priority, in the order given (the
    outbox's order among equals); the same one twice, once."""
    await seed(database, nairobi_people(3))
    alert_id = await _alert(database, "Fire")
    people = await _people(database)
    in_order = [people[1], people[2], people[0]]
    notices = [
        Notice(alert_id, person, Channel.SMS, Purpose.ANSWER, 1, "Recorded: safe.")
        for person in [*in_order, people[1]]
    ]
    for _ in range(2):
        await database.run(lambda connection: answer_batch.queue_notices(connection, notices, NOW))
    async with database.session(read_only=True) as session:
        rows = await session.execute(
            select(DELIVERY.c.person, DELIVERY.c.priority, DELIVERY.c.body, DELIVERY.c.status)
            .where(DELIVERY.c.purpose == Purpose.ANSWER.value)
            .order_by(DELIVERY.c.id)
        )
        queued = [tuple(row) for row in rows.all()]
    priority = await _priority(database, alert_id)
    assert queued == [(person, priority, "Recorded: safe.", "queued") for person in in_order]


async def _priority(database: Database, alert_id: int) -> int:
    async with database.session(read_only=True) as session:
        found = await session.execute(
            select(DELIVERY.c.priority).where(
                DELIVERY.c.alert_id == alert_id, DELIVERY.c.purpose == Purpose.ALERT.value
            )
        )
        return int(found.scalars().first() or 0)
