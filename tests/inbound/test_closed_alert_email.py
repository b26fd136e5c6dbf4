"""An e-mail reply to a closed alert is taken by the listener (no bounce) and records nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

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
from notifier.store.tables import RECIPIENT, RESPONSE
from tests.inbound.test_email_answers import DOMAIN, NOW, SECRET, person_pk, reply
from tests.seeding import seed

ADMIN = Principal("a", Role.ADMIN)


@pytest.fixture
async def closed(database: Database) -> AsyncIterator[tuple[InboundSmtpListener, int]]:
    """The daemon's listener on a free port; an alert sent to NBO, then closed; its id."""
    await seed(database, ["A1,Ana,a1@example.org,+254733200001,NBO,es,"])
    request = AlertRequest(title="Fire", message="Leave.", stations=("NBO",))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
    async with database.session() as session:
        await alerts.close_alert(session, alert.id, ADMIN)
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


async def test_a_reply_to_a_closed_alert_records_nothing(
    database: Database, closed: tuple[InboundSmtpListener, int]
) -> None:
    """ "2" by e-mail after the alert closed: accepted by SMTP, no answer, no response row."""
    listener, alert_id = closed
    ana = await person_pk(database, "A1")
    token = ack_tokens.issue(SECRET.encode(), alert_id, ana, NOW + timedelta(days=1))
    with capture_logs() as logs:
        await reply(listener.port, token, "2", "<closed-1@example.net>")
    answered = [entry for entry in logs if entry["event"] == "email_answer"]
    assert [entry["outcome"] for entry in answered] == ["not_open"]
    async with database.session() as session:
        assert (await session.execute(select(RESPONSE.c.id))).all() == []
        query = select(RECIPIENT.c.response).where(RECIPIENT.c.person == ana)
        assert (await session.execute(query)).scalar_one() is None
