"""E-mail replies reach the listener and become answers, for the token's person only, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import pytest
from sqlalchemy import select

from notifier import ack_tokens
from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.clock import SystemClock
from notifier.domain import Role
from notifier.inbound.email_answers import inbound_listener
from notifier.inbound.smtp_listener import InboundSmtpListener
from notifier.settings import load_settings
from notifier.store import alerts, materialisation
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT, RESPONSE
from tests.seeding import seed

SECRET = "inbound-test-secret"
DOMAIN = "reply.example.org"
NOW = datetime.now(UTC)


@pytest.fixture
async def listening(database: Database) -> AsyncIterator[tuple[InboundSmtpListener, int]]:
    """The daemon's listener on a free port; an alert sent to NBO; the alert's id."""
    await seed(
        database,
        [
            "A1,Ana,a1@example.org,+254733200001,NBO,es,",
            "G1,Gil,g1@example.org,+41227000001,GVA,en,",
        ],
    )
    request = AlertRequest(title="Fire", message="Leave.", stations=("NBO",))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("a", Role.ADMIN))
    assert alert.id is not None
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    settings = load_settings(
        None,
        {
            "NOTIFIER_SECURITY__SECRET_KEY": SECRET,
            "NOTIFIER_EMAIL__REPLY_DOMAIN": DOMAIN,
            "NOTIFIER_EMAIL__INBOUND__PORT": "0",
        },
    )
    async with inbound_listener(database, settings, SystemClock()) as listener:
        yield listener, alert.id


async def person_pk(database: Database, person_id: str) -> int:
    """The database id of a person."""
    async with database.session() as session:
        query = select(PERSON.c.id).where(PERSON.c.person_id == person_id)
        pk: int = (await session.execute(query)).scalar_one()
    return pk


async def reply(port: int, token: str, text: str, message_id: str) -> None:
    """Send a reply to ack+token@ through a real SMTP client."""
    message = EmailMessage()
    message["From"] = "someone@example.net"
    message["To"] = f"ack+{token}@{DOMAIN}"
    message["Subject"] = "Re: SEVERE: Fire"
    message["Message-ID"] = message_id
    message.set_content(text)
    await aiosmtplib.send(message, hostname="127.0.0.1", port=port)


async def test_reply_records_the_answer_once(
    database: Database, listening: tuple[InboundSmtpListener, int]
) -> None:
    """A "necesito ayuda" above the quoted alert records help by e-mail; a resend changes nothing."""
    listener, alert_id = listening
    ana = await person_pk(database, "A1")
    token = ack_tokens.issue(SECRET.encode(), alert_id, ana, NOW + timedelta(days=1))
    body = "Necesito ayuda\n\nEl lun, 1 dic 2026, ENS escribió:\n> Responda 1 si está a salvo"
    for _ in range(2):
        await reply(listener.port, token, body, "<r1@example.net>")
    async with database.session() as session:
        rows = (await session.execute(select(RESPONSE.c.kind, RESPONSE.c.channel))).all()
        query = select(RECIPIENT.c.response).where(RECIPIENT.c.person == ana)
        current = (await session.execute(query)).scalar_one()
    assert [tuple(row) for row in rows] == [("help", "email")]
    assert current == "help"


async def test_a_token_for_someone_not_sent_the_alert_records_nothing(
    database: Database, listening: tuple[InboundSmtpListener, int]
) -> None:
    """A validly signed token for a person outside the alert's audience acknowledges nothing."""
    listener, alert_id = listening
    gil = await person_pk(database, "G1")
    token = ack_tokens.issue(SECRET.encode(), alert_id, gil, NOW + timedelta(days=1))
    await reply(listener.port, token, "1", "<r2@example.net>")
    async with database.session() as session:
        assert (await session.execute(select(RESPONSE.c.id))).all() == []


async def test_a_forged_token_is_refused_with_550(
    database: Database, listening: tuple[InboundSmtpListener, int]
) -> None:
    """A token signed with another key is refused at RCPT."""
    listener, alert_id = listening
    ana = await person_pk(database, "A1")
    forged = ack_tokens.issue(b"another-key", alert_id, ana, NOW + timedelta(days=1))
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await reply(listener.port, forged, "1", "<r3@example.net>")
    assert refused.value.recipients[0].code == 550


async def reply_bytes(port: int, token: str, body: bytes, message_id: str) -> None:
    """Send a reply whose body is these bytes, declared as UTF-8 text, through a real client."""
    raw = (
        b"From: someone@example.net\r\n"
        + f"To: ack+{token}@{DOMAIN}\r\n".encode()
        + b"Subject: Re: SEVERE: Fire\r\n"
        + f"Message-ID: {message_id}\r\n".encode()
        + b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"
    )
    await aiosmtplib.send(
        raw,
        sender="someone@example.net",
        recipients=[f"ack+{token}@{DOMAIN}"],
        hostname="127.0.0.1",
        port=port,
    )


async def answers_of(database: Database, person: int) -> tuple[str | None, list[tuple[str, str]]]:
    """The person's current answer and their history (kind, text)."""
    async with database.session() as session:
        query = select(RECIPIENT.c.response).where(RECIPIENT.c.person == person)
        current = (await session.execute(query)).scalar_one()
        history = select(RESPONSE.c.kind, RESPONSE.c.text).order_by(RESPONSE.c.id)
        rows = [(row.kind, row.text) for row in await session.execute(history)]
    return current, rows


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\n\n> Reply 1 if safe, 2 if you need help", id="only-quoted"),
        pytest.param(b"\xff\xfe\xfd\xff", id="undecodable"),
    ],
)
async def test_an_empty_or_unreadable_reply_records_nothing(
    database: Database, listening: tuple[InboundSmtpListener, int], body: bytes
) -> None:
    """A reply with no readable first line records nothing, before an answer or after "2"."""
    listener, alert_id = listening
    ana = await person_pk(database, "A1")
    token = ack_tokens.issue(SECRET.encode(), alert_id, ana, NOW + timedelta(days=1))
    await reply_bytes(listener.port, token, body, "<e1@example.net>")
    assert await answers_of(database, ana) == (None, [])
    await reply(listener.port, token, "2", "<e2@example.net>")
    await reply_bytes(listener.port, token, body, "<e3@example.net>")
    assert await answers_of(database, ana) == ("help", [("help", "2")])


async def test_text_after_help_is_kept_and_help_stands(
    database: Database, listening: tuple[InboundSmtpListener, int]
) -> None:
    """ "2" then "Venid rápido, por favor": the text is kept, the person still needs help."""
    listener, alert_id = listening
    ana = await person_pk(database, "A1")
    token = ack_tokens.issue(SECRET.encode(), alert_id, ana, NOW + timedelta(days=1))
    await reply(listener.port, token, "2", "<h1@example.net>")
    await reply(listener.port, token, "Venid rápido, por favor", "<h2@example.net>")
    assert await answers_of(database, ana) == (
        "help",
        [("help", "2"), ("other", "Venid rápido, por favor")],
    )
