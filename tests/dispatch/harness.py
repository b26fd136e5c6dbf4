"""A dispatcher wired to real channels against fake providers on loopback, for fan-out tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.channels.email import SmtpEmailChannel
from notifier.channels.sms import TwilioSmsChannel
from notifier.clock import SystemClock
from notifier.dispatch.dispatcher import Dispatcher, configured_lanes
from notifier.dispatch.rendering import MessageFactory
from notifier.domain import AlertStatus, Role
from notifier.messages import Templates, load_templates
from notifier.settings import Settings, load_settings
from notifier.store import alerts
from notifier.store.engine import Database
from notifier.store.tables import ALERT
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer

TEMPLATES = Path(__file__).parent.parent.parent / "config" / "templates"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"
ADMIN = Principal("officer-on-duty", Role.ADMIN)


def fan_out_settings(
    smtp_port: int, twilio_url: str, *, more: Mapping[str, str] | None = None, **dispatch: str
) -> Settings:
    """Settings pointing both channels at the fakes, with fast retries for tests; `more`
    variables (NOTIFIER_…) added."""
    env = {
        "NOTIFIER_SECURITY__SECRET_KEY": "test-secret-key-0123456789",
        "NOTIFIER_EMAIL__HOST": "127.0.0.1",
        "NOTIFIER_EMAIL__PORT": str(smtp_port),
        "NOTIFIER_EMAIL__TLS": "none",
        "NOTIFIER_EMAIL__POOL_SIZE": "4",
        "NOTIFIER_EMAIL__RATE_PER_SECOND": "2000",
        "NOTIFIER_EMAIL__TIMEOUT_SECONDS": "5",
        "NOTIFIER_SMS__ACCOUNT_SID": ACCOUNT_SID,
        "NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN,
        "NOTIFIER_SMS__FROM_NUMBER": "+15005550006",
        "NOTIFIER_SMS__API_BASE_URL": twilio_url,
        "NOTIFIER_SMS__RATE_PER_SECOND": "2000",
        "NOTIFIER_SMS__CONCURRENCY": "8",
        "NOTIFIER_SMS__TIMEOUT_SECONDS": "2",
        "NOTIFIER_DISPATCH__BACKOFF_BASE_SECONDS": "0.05",
        "NOTIFIER_DISPATCH__BACKOFF_MAX_SECONDS": "0.2",
        "NOTIFIER_DISPATCH__POLL_INTERVAL_SECONDS": "0.05",
        "NOTIFIER_DISPATCH__LEASE_SECONDS": "10",
    }
    env.update({f"NOTIFIER_DISPATCH__{key.upper()}": value for key, value in dispatch.items()})
    env.update(more or {})
    return load_settings(None, env)


@dataclass
class FanOut:
    """A running dispatcher and the fakes it sends to."""

    database: Database
    smtp: FakeSmtpServer
    twilio: FakeTwilioServer
    dispatcher: Dispatcher
    templates: Templates

    async def raise_alert(self, request: AlertRequest) -> int:
        """Raise an alert as an officer would, and wake the dispatcher."""
        async with self.database.session() as session:
            alert = await alerts.create_alert(session, request, ADMIN)
        self.dispatcher.wake()
        assert alert.id is not None
        return alert.id

    async def until_dispatched(self, alert_id: int, seconds: float = 30) -> None:
        """Wait until every delivery of the alert is settled."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            async with self.database.session() as session:
                status = (
                    await session.execute(select(ALERT.c.status).where(ALERT.c.id == alert_id))
                ).scalar()
            if status == AlertStatus.DISPATCHED:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"alert {alert_id} was not dispatched within {seconds} s")


@asynccontextmanager
async def running_fan_out(
    database: Database,
    *,
    more: Mapping[str, str] | None = None,
    worker: str = "test-worker",
    **dispatch: str,
) -> AsyncIterator[FanOut]:
    """Fakes on loopback, the real channels, and a dispatcher running until the block ends
    (a replica named `worker`: each has fakes of its own)."""
    async with AsyncExitStack() as stack:
        smtp = await stack.enter_async_context(FakeSmtpServer())
        twilio = await stack.enter_async_context(FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN))
        settings = fan_out_settings(smtp.port, twilio.base_url, more=more, **dispatch)
        email = await stack.enter_async_context(SmtpEmailChannel(settings.email))
        sms = await stack.enter_async_context(
            TwilioSmsChannel(
                settings.sms, status_callback_url="http://127.0.0.1:9/webhooks/twilio/status"
            )
        )
        templates = load_templates(TEMPLATES)
        lanes = configured_lanes(settings, email=email, sms=sms)
        dispatcher = Dispatcher(
            database,
            lanes,
            MessageFactory(templates, settings),
            settings.dispatch,
            SystemClock(),
            worker,
        )
        stopping = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stopping, grace_seconds=2))
        try:
            yield FanOut(database, smtp, twilio, dispatcher, templates)
        finally:
            stopping.set()
            await asyncio.wait_for(task, 10)
