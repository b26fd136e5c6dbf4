"""A daemon killed with SIGKILL in the middle of a burst of SMS replies loses none it answered."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from notifier.domain import Role
from notifier.store import schema, tokens
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT, RESPONSE
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.seeding import nairobi_people, seed
from tests.sms_replies import reply_form

PEOPLE = 1000
SENDERS = 32
KILL_AFTER = 300
PATH = "/webhooks/twilio/sms"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The daemons' database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'replies.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


async def _burst(port: int, forms: list[dict[str, str]], stop_after: int | None) -> set[str]:
    """Post the replies with `SENDERS` keep-alive senders; the MessageSids answered 200. With
    `stop_after`, stop once that many were answered (the daemon is about to die)."""
    url = f"http://127.0.0.1:{port}{PATH}"
    validator = RequestValidator(AUTH_TOKEN)
    answered: set[str] = set()
    queue = list(reversed(forms))

    async def sender(client: httpx.AsyncClient) -> None:
        while queue and (stop_after is None or len(answered) < stop_after):
            form = queue.pop()
            headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
            try:
                response = await client.post(url, data=form, headers=headers, timeout=10)
            except httpx.TransportError:
                return  # the daemon died under us
            if response.status_code == 200:
                answered.add(form["MessageSid"])

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(sender(client) for _ in range(SENDERS)))
    return answered


async def _recorded(database: Database) -> tuple[set[str], int]:
    """The MessageSids recorded, and how many answer rows there are."""
    async with database.session(read_only=True) as session:
        sids = await session.execute(select(RESPONSE.c.provider_message_id))
        found = [sid for sid in sids.scalars() if sid is not None]
    return set(found), len(found)


async def test_every_reply_answered_before_a_sigkill_is_recorded(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL mid-burst: each reply answered 200 is in the database after a restart; the
    replies sent again to the new daemon are each recorded once."""
    async with Database.open(database_url) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        async with database.session() as session:
            token = await tokens.create_token(session, "officer", Role.ADMIN, [], actor="test")
            phones = list(
                (await session.execute(select(PERSON.c.phone).order_by(PERSON.c.id))).scalars()
            )
        forms = [reply_form(ACCOUNT_SID, phone, index) for index, phone in enumerate(phones)]
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=0.05) as twilio,
        ):
            port = free_port()
            env = daemon_environment(database_url, smtp.port, twilio.base_url, port)
            log = tmp_path / "daemon.log"
            first = start_daemon(env, log)
            try:
                await wait_healthy(first, port, log)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                    raised = await client.post(
                        "/api/v1/alerts",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"title": "Earthquake", "message": "Leave now.", "stations": ["NBO"]},
                    )
                assert raised.status_code == 202, raised.text
                await _materialised(database, raised.json()["id"])
                burst = asyncio.create_task(_burst(port, forms, None))
                while len((await _recorded(database))[0]) < KILL_AFTER and not burst.done():
                    await asyncio.sleep(0.01)
                first.send_signal(signal.SIGKILL)
                first.wait(10)
                answered = await burst
            finally:
                stop(first)
            recorded, rows = await _recorded(database)
            # Killed once KILL_AFTER were recorded; a few of those may not have been answered.
            assert len(recorded) >= KILL_AFTER, "the kill must land mid-burst"
            assert 0 < len(answered) < PEOPLE, "the kill must land mid-burst"
            assert answered <= recorded, f"{len(answered - recorded)} answered replies lost"
            assert rows == len(recorded)
            second = start_daemon(env, log)
            try:
                await wait_healthy(second, port, log)
                again = await _burst(port, forms, None)
            finally:
                stop(second)
            assert len(again) == PEOPLE, log.read_text()[-3000:]
            recorded, rows = await _recorded(database)
            assert (len(recorded), rows) == (PEOPLE, PEOPLE)


async def _materialised(database: Database, alert_id: int) -> None:
    """Wait until every person is a recipient of the alert."""
    deadline = time.monotonic() + 60
    query = select(func.count()).select_from(RECIPIENT).where(RECIPIENT.c.alert_id == alert_id)
    while time.monotonic() < deadline:
        async with database.session(read_only=True) as session:
            if (await session.scalar(query)) == PEOPLE:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the alert's recipients were not listed within 60 s")
