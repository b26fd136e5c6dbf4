"""/healthz and /metrics tell each channel's state, from a dispatcher sending to fake providers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.channel_health import ChannelHealth
from notifier.channels.email import SmtpEmailChannel
from notifier.channels.sms import TwilioSmsChannel
from notifier.clock import SystemClock
from notifier.dispatch.dispatcher import Dispatcher, configured_lanes
from notifier.dispatch.rendering import MessageFactory
from notifier.domain import Channel, Role
from notifier.messages import load_templates
from notifier.store import alerts
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.dispatch.harness import ACCOUNT_SID, AUTH_TOKEN, TEMPLATES, fan_out_settings
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import Failure, FakeTwilioServer
from tests.processes.daemons import free_port
from tests.seeding import nairobi_people, seed

ADMIN = Principal("officer-on-duty", Role.ADMIN)
WAIT_SECONDS = 30
FIRST = "+254720000000"
"""The phone number of the first of `nairobi_people`."""


@dataclass
class Sending:
    """A dispatcher sending to the fakes, and an HTTP client of the app that shares its health."""

    database: Database
    dispatcher: Dispatcher
    client: httpx.AsyncClient

    async def raise_alert(self, *channels: Channel) -> None:
        """An alert to the NBO roster on `channels`, handed to the dispatcher at once."""
        request = AlertRequest(
            title="Fire", message="Leave by the stairs.", stations=("NBO",), channels=channels
        )
        async with self.database.session() as session:
            await alerts.create_alert(session, request, ADMIN)
        self.dispatcher.wake()

    async def health_until(self, channel: str, state: str) -> tuple[int, dict[str, Any]]:
        """GET /healthz until `channel` is in `state`; its status code and body then."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            answer = await self.client.get("/healthz")
            body = answer.json()
            if body["channels"][channel]["state"] == state:
                return answer.status_code, body
            assert time.monotonic() < deadline, f"{channel} never {state}: {body}"
            await asyncio.sleep(0.05)

    async def metric_lines(self) -> list[str]:
        """The lines of /metrics about channel health."""
        answer = await self.client.get("/metrics")
        assert answer.status_code == 200
        return [line for line in answer.text.splitlines() if line.startswith("notifier_channel_")]


@asynccontextmanager
async def sending(database: Database, smtp_port: int, twilio_url: str) -> AsyncIterator[Sending]:
    """The real channels and dispatcher, retrying often and long, and the app beside them."""
    settings = fan_out_settings(smtp_port, twilio_url, max_attempts="100")
    health = ChannelHealth()
    async with AsyncExitStack() as stack:
        email = await stack.enter_async_context(SmtpEmailChannel(settings.email))
        sms = await stack.enter_async_context(
            TwilioSmsChannel(settings.sms, status_callback_url="http://127.0.0.1:9/status")
        )
        dispatcher = Dispatcher(
            database,
            configured_lanes(settings, email=email, sms=sms),
            MessageFactory(load_templates(TEMPLATES), settings),
            settings.dispatch,
            SystemClock(),
            "test-worker",
            health=health,
        )
        app = create_app(database, settings, wake_dispatcher=dispatcher.wake, channel_health=health)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        )
        stopping = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stopping, grace_seconds=2))
        try:
            yield Sending(database, dispatcher, client)
        finally:
            stopping.set()
            await asyncio.wait_for(task, 10)


def _since(body: dict[str, Any], channel: str) -> datetime:
    return datetime.fromisoformat(body["channels"][channel]["since"])


async def test_an_smtp_relay_refusing_connections_is_failing_until_it_is_back(
    database: Database,
) -> None:
    """Relay down: email failing (error, since), /healthz still 200; relay back: ok after a send."""
    await seed(database, nairobi_people(1))
    port = free_port()  # nobody listens: connections are refused
    started = datetime.now(UTC).replace(microsecond=0)
    async with (
        FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio,
        sending(database, port, twilio.base_url) as run,
    ):
        await run.raise_alert(Channel.EMAIL)
        status, body = await run.health_until("email", "failing")
        assert status == 200
        assert (body["status"], body["database"]) == ("ok", "ok")
        email = body["channels"]["email"]
        assert "connect" in email["error"].lower(), email
        assert started <= _since(body, "email") <= datetime.now(UTC)
        assert email["failures"] >= 1
        assert body["channels"]["sms"] == {"state": "idle"}
        lines = await run.metric_lines()
        assert 'notifier_channel_up{channel="email"} 0' in lines
        assert 'notifier_channel_up{channel="sms"} 1' in lines
        assert any(line.startswith("notifier_channel_failing_since_seconds{") for line in lines)

        async with FakeSmtpServer(port=port) as smtp:
            status, body = await run.health_until("email", "ok")
            assert status == 200
            assert body["channels"]["email"] == {"state": "ok"}
            assert len(smtp.messages) == 1
            lines = await run.metric_lines()
    assert 'notifier_channel_up{channel="email"} 1' in lines
    assert not any(line.startswith("notifier_channel_failing_since_seconds{") for line in lines)


async def test_twilio_answering_500_is_failing_until_a_message_goes_through(
    database: Database,
) -> None:
    """Twilio 500s: sms failing with Twilio's code, /healthz 200; answering again: ok."""
    await seed(database, nairobi_people(1))
    async with (
        FakeSmtpServer() as smtp,
        FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio,
        sending(database, smtp.port, twilio.base_url) as run,
    ):
        twilio.fail_all(Failure.SERVER_ERROR)
        await run.raise_alert(Channel.SMS)
        status, body = await run.health_until("sms", "failing")
        assert status == 200
        assert body["channels"]["sms"]["error"] == "20500: twilio server error 500"
        assert body["channels"]["email"] == {"state": "idle"}
        assert 'notifier_channel_up{channel="sms"} 0' in await run.metric_lines()

        twilio.fail_all(None)
        status, body = await run.health_until("sms", "ok")
        assert status == 200
        assert body["channels"]["sms"] == {"state": "ok"}
        assert [message.to for message in twilio.messages] == [FIRST]
        assert 'notifier_channel_up{channel="sms"} 1' in await run.metric_lines()


async def test_an_invalid_number_leaves_the_sms_channel_ok(database: Database) -> None:
    """Twilio 21211 for one recipient fails that delivery only: the channel is ok, not failing."""
    await seed(database, nairobi_people(1))
    async with (
        FakeSmtpServer() as smtp,
        FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio,
        sending(database, smtp.port, twilio.base_url) as run,
    ):
        twilio.fail_for(FIRST, Failure.INVALID_NUMBER)
        await run.raise_alert(Channel.SMS)
        # The failed SMS fails over to e-mail: once that is sent, the SMS's outcome is known.
        status, body = await run.health_until("email", "ok")
        assert status == 200
        assert body["channels"]["sms"] == {"state": "ok"}
        assert twilio.requests == 1
        assert len(smtp.messages) == 1
        assert 'notifier_channel_up{channel="sms"} 1' in await run.metric_lines()


async def test_the_error_shown_names_no_recipient(database: Database) -> None:
    """A relay greylisting with the address in its answer: failing, the address masked."""
    await seed(database, nairobi_people(1))
    address = "n0@example.org"
    async with (
        FakeSmtpServer() as smtp,
        FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio,
        sending(database, smtp.port, twilio.base_url) as run,
    ):
        smtp.refuse_recipient(address, 450, f"4.2.0 <{address}>: greylisted, try later")
        await run.raise_alert(Channel.EMAIL)
        _, body = await run.health_until("email", "failing")
        answer = await run.client.get("/healthz")
    assert body["channels"]["email"]["error"] == (
        "recipient refused: 450 4.2.0 <n***@example.org>: greylisted, try later"
    )
    assert address not in answer.text
