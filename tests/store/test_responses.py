"""Recording answers on both databases: "needs help" stands until "safe"; empty answers vanish."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, ResponseKind, Role
from notifier.store import alert_views, alerts, materialisation, responses
from notifier.store.engine import Database
from notifier.store.responses import Answer, Outcome
from notifier.store.tables import PERSON, RECIPIENT, RESPONSE
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.ADMIN)
SAFE, HELP, OTHER = ResponseKind.SAFE, ResponseKind.HELP, ResponseKind.OTHER


async def _alert_and_person(database: Database) -> tuple[int, int]:
    """An alert to NBO with its recipients listed; the database id of N00000."""
    await seed(database, nairobi_people(2))
    request = AlertRequest(title="Earthquake", message="Leave the building.", stations=("NBO",))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    async with database.session() as session:
        assert (await materialisation.materialise_batch(session, alert.id, 100, NOW)).finished
        query = select(PERSON.c.id).where(PERSON.c.person_id == "N00000")
        person: int = (await session.execute(query)).scalar_one()
    return alert.id, person


async def _answer(
    database: Database, alert_id: int, person: int, kind: ResponseKind, text: str, at: datetime
) -> Outcome:
    async with database.session() as session:
        answer = Answer(alert_id, person, kind, Channel.SMS, text)
        return await responses.record_answer(session, answer, at)


async def _state(
    database: Database, alert_id: int, person: int
) -> tuple[str | None, datetime | None, list[tuple[str, str]]]:
    """The recipient's current answer, the time of the first, and the history (kind, text)."""
    async with database.session() as session:
        query = select(RECIPIENT.c.response, RECIPIENT.c.first_response_at).where(
            RECIPIENT.c.alert_id == alert_id, RECIPIENT.c.person == person
        )
        current, first = (await session.execute(query)).one()
        history = select(RESPONSE.c.kind, RESPONSE.c.text).order_by(RESPONSE.c.id)
        rows = [(row.kind, row.text) for row in await session.execute(history)]
    return current, first, rows


@pytest.mark.parametrize(
    ("answers", "outcomes", "current"),
    [
        pytest.param(
            [(HELP, "2"), (OTHER, "my leg is broken")],
            ["recorded", "help_stands"],
            "help",
            id="help-then-text-stays-help",
        ),
        pytest.param(
            [(HELP, "2"), (OTHER, "come quickly"), (OTHER, "please")],
            ["recorded", "help_stands", "help_stands"],
            "help",
            id="help-then-texts-stays-help",
        ),
        pytest.param(
            [(OTHER, "where do we go?"), (HELP, "2"), (OTHER, "hurry")],
            ["recorded", "recorded", "help_stands"],
            "help",
            id="text-help-text-stays-help",
        ),
        pytest.param(
            [(HELP, "2"), (OTHER, "come quickly"), (SAFE, "1")],
            ["recorded", "help_stands", "recorded"],
            "safe",
            id="help-then-safe-becomes-safe",
        ),
        pytest.param(
            [(SAFE, "1"), (OTHER, "my colleague is missing")],
            ["recorded", "recorded"],
            "other",
            id="safe-then-text-becomes-other",
        ),
    ],
)
async def test_needs_help_stands_until_safe(
    database: Database,
    answers: list[tuple[ResponseKind, str]],
    outcomes: list[str],
    current: str,
) -> None:
    """Text after help keeps help current; safe replaces it; all kept; the first time stays."""
    alert_id, person = await _alert_and_person(database)
    got = []
    for minutes, (kind, text) in enumerate(answers, start=1):
        at = NOW + timedelta(minutes=minutes)
        got.append(await _answer(database, alert_id, person, kind, text, at))
    assert got == outcomes
    response, first, history = await _state(database, alert_id, person)
    assert response == current
    assert first == NOW + timedelta(minutes=1)
    assert history == [(kind.value, text) for kind, text in answers]


@pytest.mark.parametrize("text", ["", "   ", "\ufffd\ufffd", "\u200b\n\ufeff"])
async def test_an_empty_answer_records_nothing(database: Database, text: str) -> None:
    """Nothing readable (an MMS with only a picture, undecodable bytes): no history, no change."""
    alert_id, person = await _alert_and_person(database)
    outcome = await _answer(database, alert_id, person, OTHER, text, NOW)
    assert outcome is Outcome.EMPTY
    assert await _state(database, alert_id, person) == (None, None, [])
    await _answer(database, alert_id, person, HELP, "2", NOW + timedelta(minutes=1))
    outcome = await _answer(database, alert_id, person, OTHER, text, NOW + timedelta(minutes=2))
    assert outcome is Outcome.EMPTY
    assert await _state(database, alert_id, person) == (
        "help",
        NOW + timedelta(minutes=1),
        [("help", "2")],
    )


async def test_text_waiting_on_an_uncommitted_help_leaves_help(database: Database) -> None:
    """A text recorded while another replica's "2" is not yet committed still leaves help."""
    alert_id, person = await _alert_and_person(database)
    helped, go = asyncio.Event(), asyncio.Event()

    async def help_held_open() -> None:
        async with database.session() as session:
            answer = Answer(alert_id, person, HELP, Channel.SMS, "2")
            assert await responses.record_answer(session, answer, NOW) is Outcome.RECORDED
            helped.set()
            await go.wait()

    holding = asyncio.create_task(help_held_open())
    await helped.wait()
    text = asyncio.create_task(_answer(database, alert_id, person, OTHER, "come quickly", NOW))
    await asyncio.sleep(0.2)  # let it reach the recipient row the first transaction holds
    go.set()
    await holding
    assert await text is Outcome.HELP_STANDS
    assert (await _state(database, alert_id, person))[0] == "help"


async def test_help_list_keeps_the_person_with_their_latest_text(database: Database) -> None:
    """`response=help` still lists someone who wrote after "2", with the latest text; counts too."""
    alert_id, person = await _alert_and_person(database)
    await _answer(database, alert_id, person, OTHER, "where?", NOW)
    await _answer(database, alert_id, person, HELP, "2", NOW + timedelta(minutes=1))
    await _answer(database, alert_id, person, OTHER, "my leg is broken", NOW + timedelta(minutes=2))
    async with database.session() as session:
        [row] = await alert_views.recipients(session, alert_id, response=HELP)
        everyone = await alert_views.recipients(session, alert_id)
        alert = await alerts.get_alert(session, alert_id, ADMIN)
        counts = await alert_views.alert_counts(session, alert)
    assert (row.person_id, row.response, row.latest_text) == ("N00000", "help", "my leg is broken")
    assert row.acknowledged_at == NOW.isoformat()
    assert [(r.person_id, r.latest_text) for r in everyone] == [
        ("N00000", "my leg is broken"),
        ("N00001", None),
    ]
    assert counts.responses == {"safe": 0, "help": 1, "other": 0}
