"""`notifier serve` calling those who have not answered, against the Twilio-compatible server
playing each call: keys recorded, machines told without a question, busy lines called again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY, PERSON, RECIPIENT, RESPONSE
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_calls import Outcome, ReceivedCall
from tests.fakes.twilio_server import FakeTwilioServer
from tests.postgres import throwaway_database
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.seeding import seed

PEOPLE = 200
SCRIPTED = ("en", "fr", "es", "ru", "zh", "ar", "en")
"""The languages of P0 to P6, whose calls are scripted one by one; the others' cycle."""
LANGUAGES = SCRIPTED + tuple(SCRIPTED[i % 6] for i in range(PEOPLE - len(SCRIPTED)))
VOICES = {"en": "Polly.Joanna", "fr": "Polly.Lea", "es": "Polly.Lucia", "ru": "Polly.Tatyana"}
VOICES |= {"zh": "Polly.Zhiyu", "ar": "Polly.Zeina"}


CALL_ENDS_SECONDS = 15.0
"""How long the daemon may take to record the ends of calls the provider has finished (their
status callbacks, on a loaded machine)."""


async def _ends_recorded(database: Database, seconds: float) -> None:
    """Wait, at most `seconds`, until no call is still to be placed or placed with its end
    not yet recorded."""
    unsettled = (
        select(func.count())
        .select_from(DELIVERY)
        .where(DELIVERY.c.channel == "voice", DELIVERY.c.status.in_(("queued", "sending", "sent")))
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with database.session(read_only=True) as session:
            if await session.scalar(unsettled) == 0:
                return
        await asyncio.sleep(0.1)


def phone(index: int) -> str:
    return f"+254734000{index:03d}"


def keys_of(index: int) -> str | None:
    """What person `index` (from P7) presses: 1, 2 or nothing, in turn."""
    return ("1", "2", None)[index % 3]


async def _answer_by_sms(port: int, index: int) -> None:
    """Person `index` replies 1 by SMS, as Twilio posts it to the daemon, signed."""
    url = f"http://127.0.0.1:{port}/webhooks/twilio/sms"
    form = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": f"SM{index:032x}",
        "From": phone(index),
        "To": "+15005550006",
        "Body": "1",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    async with httpx.AsyncClient() as client:
        response = await client.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the daemon's own: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
        return
    async with throwaway_database(request.getfixturevalue("postgres_url"), "notifier_voice") as url:
        yield url


async def test_those_who_do_not_answer_are_called_and_their_keys_recorded(
    database_url: str, tmp_path: Path
) -> None:
    url = database_url
    rows = [
        f"P{i},Person {i},p{i}@example.org,{phone(i)},NBO,{language},"
        for i, language in enumerate(LANGUAGES)
    ]
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, rows)
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio,
        ):
            twilio.answer_calls(phone(1), Outcome.HUMAN, digits="1")
            twilio.answer_calls(phone(2), Outcome.HUMAN, digits="2")
            twilio.answer_calls(phone(3), Outcome.MACHINE)
            twilio.answer_calls(phone(4), Outcome.BUSY)
            twilio.answer_calls(phone(5), Outcome.NO_ANSWER)
            # P6 answers and presses nothing; P0 answers by SMS first and is never called.
            for index in range(len(SCRIPTED), PEOPLE):
                twilio.answer_calls(phone(index), Outcome.HUMAN, digits=keys_of(index))
            port = free_port()
            env = daemon_environment(
                url,
                smtp.port,
                twilio.base_url,
                port,
                NOTIFIER_VOICE__FROM_NUMBER="+15005550007",
                NOTIFIER_VOICE__RATE_PER_SECOND="200",
                NOTIFIER_VOICE__CONCURRENCY="16",
                NOTIFIER_VOICE__MAX_ATTEMPTS="2",
                NOTIFIER_VOICE__RETRY_SECONDS="0.5",
                NOTIFIER_ESCALATION__ACK_TIMEOUT_MINUTES="0.05",
                NOTIFIER_ESCALATION__MAX_ROUNDS="1",
            )
            log = tmp_path / "daemon.log"
            daemon = start_daemon(env, log)
            try:
                await wait_healthy(daemon, port, log)
                async with database.session() as session:
                    request = AlertRequest("Earthquake", "Leave now.", stations=("NBO",))
                    alert = await alerts.create_alert(session, request, Principal("o", Role.ADMIN))
                deadline = time.monotonic() + 30
                while len(twilio.messages) < PEOPLE and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await _answer_by_sms(port, 0)
                # Round 1, 3 s after the alert: all but P0 called, P4 and P5 twice.
                finished = await twilio.calls_finished(PEOPLE - 1 + 2, timeout=90)
                await _ends_recorded(database, CALL_ENDS_SECONDS)
            finally:
                stop(daemon)
        called: dict[str, list[ReceivedCall]] = {}
        for call in finished:
            called.setdefault(call.to, []).append(call)
        assert phone(0) not in called
        assert {number: len(each) for number, each in called.items()} == {
            phone(i): 2 if i in (4, 5) else 1 for i in range(1, PEOPLE)
        }
        for index in (1, 2, 3, 6, *range(len(SCRIPTED), PEOPLE)):
            [call] = called[phone(index)]
            voices = {said.voice for said in call.heard}
            assert voices == {VOICES[LANGUAGES[index]]}, index
            assert "Leave now." in call.heard[0].text
        machine = called[phone(3)][0]
        question = "Press 1 if you are safe. Press 2 if you need help."
        assert question not in machine.heard_texts
        assert question in called[phone(6)][0].heard_texts
        assert alert.id is not None
        async with database.session() as session:
            answers = dict(
                (
                    await session.execute(
                        select(PERSON.c.person_id, RECIPIENT.c.response)
                        .join(PERSON, PERSON.c.id == RECIPIENT.c.person)
                        .where(RECIPIENT.c.alert_id == alert.id)
                    )
                ).all()
            )
            by_voice = (
                (
                    await session.execute(
                        select(RESPONSE.c.kind).where(RESPONSE.c.channel == "voice")
                    )
                )
                .scalars()
                .all()
            )
            busy = (
                await session.execute(
                    select(DELIVERY.c.status, DELIVERY.c.attempts)
                    .join(PERSON, PERSON.c.id == DELIVERY.c.person)
                    .where(PERSON.c.person_id == "P4", DELIVERY.c.channel == "voice")
                )
            ).one()
    keyed: dict[str | None, str | None] = {"1": "safe", "2": "help", None: None}
    expected: dict[str, str | None] = {"P0": "safe", "P1": "safe", "P2": "help"}
    expected |= {f"P{i}": keyed[keys_of(i)] for i in range(len(SCRIPTED), PEOPLE)}
    assert answers == {f"P{i}": expected.get(f"P{i}") for i in range(PEOPLE)}
    called_answers = [kind for person, kind in expected.items() if kind and person != "P0"]
    assert sorted(by_voice) == sorted(called_answers)
    assert tuple(busy) == ("failed", 2)
