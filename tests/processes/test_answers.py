"""A running daemon takes answers from all three paths and chases who stays silent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
from sqlalchemy import select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT
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
from tests.seeding import seed
from tests.web.test_webhooks import sign

PEOPLE = [
    "E1,Eve Mail,e1@example.org,+254733300001,NBO,en,",
    "S1,Sam Sms,s1@example.org,+254733300002,NBO,fr,",
    "L1,Lea Link,l1@example.org,+254733300003,NBO,en,",
    "Q1,Quinn Quiet,q1@example.org,+254733300004,NBO,en,security-focal-points",
]


async def eventually(check: Callable[[], bool], seconds: float = 30) -> None:
    """Wait until `check()` holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.1)


async def test_answers_by_email_sms_and_link_then_escalation(tmp_path: Path) -> None:
    """Reply-To mail, an inbound SMS and the link each record; the silent one is chased."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'answers.db'}"
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, PEOPLE)
        async with (
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio,
        ):
            http_port, inbound_port = free_port(), free_port()
            env = daemon_environment(
                url,
                smtp.port,
                twilio.base_url,
                http_port,
                NOTIFIER_EMAIL__REPLY_DOMAIN="reply.example.org",
                NOTIFIER_EMAIL__INBOUND__ENABLED="true",
                NOTIFIER_EMAIL__INBOUND__PORT=str(inbound_port),
                NOTIFIER_ESCALATION__ACK_TIMEOUT_MINUTES="0.05",
                NOTIFIER_ESCALATION__MAX_ROUNDS="1",
            )
            log = tmp_path / "daemon.log"
            daemon = start_daemon(env, log)
            try:
                await wait_healthy(daemon, http_port, log)
                async with database.session() as session:
                    request = AlertRequest(title="Fire", message="Leave.", stations=("NBO",))
                    await alerts.create_alert(session, request, Principal("o", Role.ADMIN))
                await eventually(lambda: len(smtp.messages) >= 4 and len(twilio.messages) >= 4)
                mails = {m.rcpt_tos[0]: m.message for m in smtp.messages}
                await _reply_by_email(inbound_port, mails["e1@example.org"])
                await _reply_by_sms(http_port, "+254733300002", "2")
                await _answer_on_page(http_port, mails["l1@example.org"])
                answers = await _answers(database)
                assert answers == {"E1": "safe", "S1": "help", "L1": "safe", "Q1": None}
                # The confirmation of the SMS answer, in French; then escalation (3 s):
                # Quinn is sent the alert again, and as focal point gets the list.
                await eventually(
                    lambda: any(m.body.startswith("Enregistré") for m in twilio.messages)
                )
                await eventually(lambda: _lists(smtp) != [], seconds=40)
                [focal_list] = _lists(smtp)
                assert "Sam Sms (S1) +254733300002" in focal_list
                assert "Quinn Quiet (Q1) +254733300004" in focal_list
            finally:
                stop(daemon)


async def _reply_by_email(port: int, alert_mail: EmailMessage) -> None:
    reply = EmailMessage()
    reply["From"] = "e1@example.org"
    reply["To"] = alert_mail["Reply-To"]
    reply["Subject"] = "Re: " + str(alert_mail["Subject"])
    reply["Message-ID"] = "<reply-e1@example.org>"
    reply.set_content("1 - on my way out\n\n> " + str(alert_mail["Subject"]))
    await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)


async def _reply_by_sms(port: int, sender: str, body: str) -> None:
    path = "/webhooks/twilio/sms"
    form = {"AccountSid": ACCOUNT_SID, "MessageSid": "SM" + "9" * 32, "From": sender, "Body": body}
    public_url = f"http://127.0.0.1:{port}"
    headers = {"X-Twilio-Signature": sign(public_url + path, form, token=AUTH_TOKEN)}
    async with httpx.AsyncClient(base_url=public_url) as client:
        response = await client.post(path, data=form, headers=headers)
    assert response.status_code == 200


async def _answer_on_page(port: int, alert_mail: EmailMessage) -> None:
    body = alert_mail.get_body(("plain",))
    assert body is not None
    link = next(word for word in body.get_content().split() if "/ack/" in word)
    async with httpx.AsyncClient() as client:
        assert (await client.get(link)).status_code == 200
        response = await client.post(link, data={"response": "safe"})
    assert response.status_code == 303


async def _answers(database: Database) -> dict[str, str | None]:
    query = select(PERSON.c.person_id, RECIPIENT.c.response).join(
        PERSON, PERSON.c.id == RECIPIENT.c.person
    )
    async with database.session() as session:
        return {row.person_id: row.response for row in await session.execute(query)}


def _lists(smtp: FakeSmtpServer) -> list[str]:
    return [
        str(m.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        for m in smtp.messages
        if str(m.message["Subject"]).startswith("Not answered")
    ]
