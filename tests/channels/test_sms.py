"""The Twilio SMS channel, through the real SDK, against a Twilio-compatible server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from notifier.channels.base import OutgoingSms, SmsChannel
from notifier.channels.sms import TwilioSmsChannel, classify_failure, twilio_signature_is_valid
from notifier.errors import PermanentSendError, SendError, TransientSendError
from notifier.settings import SmsSettings
from tests.fakes.twilio_server import RETRY_AFTER_SECONDS, Failure, FakeTwilioServer

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "the-auth-token-0123456789abcdef"
FROM = "+15005550006"
SERVICE = "MG" + "fedcba9876543210" * 2
CALLBACK = "https://notifier.example.org/webhooks/twilio/status"
TO = "+41791234567"
BODY = "Shelter in place. Reply 1 if safe, 2 if you need help."

# twilio 9.13 still hands aiohttp 3.14 a BasicAuth; its deprecation is the SDK's to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioServer]:
    """A fake Twilio that accepts SID and TOKEN."""
    async with FakeTwilioServer(SID, TOKEN) as server:
        yield server


def settings(base_url: str, **changes: Any) -> SmsSettings:
    """SMS settings that point the SDK at `base_url`."""
    values: dict[str, Any] = {
        "account_sid": SID,
        "auth_token": SecretStr(TOKEN),
        "from_number": FROM,
        "api_base_url": base_url,
        "timeout_seconds": 5.0,
    }
    return SmsSettings(**(values | changes))


async def send_one(sms: SmsSettings, to: str = TO) -> str:
    """Open a channel, send one message, close it."""
    channel: SmsChannel
    async with TwilioSmsChannel(sms, CALLBACK) as channel:
        return await channel.send(OutgoingSms(to=to, body=BODY))


async def test_send_posts_the_message_and_returns_its_sid(twilio: FakeTwilioServer) -> None:
    """A message is posted with To, From, Body and StatusCallback; its Message SID is returned."""
    sid = await send_one(settings(twilio.base_url))

    [message] = twilio.messages
    assert sid == message.sid
    assert sid.startswith("SM") and len(sid) == 34
    assert (message.to, message.from_, message.body) == (TO, FROM, BODY)
    assert message.status_callback == CALLBACK
    assert message.messaging_service_sid is None


async def test_status_callback_names_the_message_reference(twilio: FakeTwilioServer) -> None:
    """A message with a reference asks Twilio to call back at the URL naming it."""
    async with TwilioSmsChannel(settings(twilio.base_url), CALLBACK) as channel:
        await channel.send(OutgoingSms(to=TO, body=BODY, reference=4321))

    [message] = twilio.messages
    assert message.status_callback == f"{CALLBACK}?delivery=4321"


async def test_messaging_service_is_used_without_a_from_number(twilio: FakeTwilioServer) -> None:
    """With no from_number, the message names the messaging service and no From."""
    await send_one(settings(twilio.base_url, from_number="", messaging_service_sid=SERVICE))

    [message] = twilio.messages
    assert message.messaging_service_sid == SERVICE
    assert message.from_ is None


async def test_rate_limit_is_transient_with_retry_after(twilio: FakeTwilioServer) -> None:
    """HTTP 429 (code 20429) is transient, carries Retry-After, and is not re-posted by the SDK."""
    twilio.fail_next(Failure.RATE_LIMITED)

    with pytest.raises(TransientSendError) as caught:
        await send_one(settings(twilio.base_url))

    assert caught.value.code == "20429"
    assert caught.value.retry_after == RETRY_AFTER_SECONDS
    assert twilio.requests == 1


async def test_server_error_is_transient_and_not_retried_by_the_sdk(
    twilio: FakeTwilioServer,
) -> None:
    """HTTP 500 is transient, and exactly one request reached the server."""
    twilio.fail_next(Failure.SERVER_ERROR)

    with pytest.raises(TransientSendError) as caught:
        await send_one(settings(twilio.base_url))

    assert caught.value.retry_after is None
    assert twilio.requests == 1
    assert twilio.messages == []


@pytest.mark.parametrize(
    ("failure", "code"), [(Failure.INVALID_NUMBER, "21211"), (Failure.UNSUBSCRIBED, "21610")]
)
async def test_refused_recipient_is_permanent(
    twilio: FakeTwilioServer, failure: Failure, code: str
) -> None:
    """Twilio 21211 (invalid 'To') and 21610 (recipient sent STOP) are permanent, with the code."""
    twilio.fail_for(TO, failure)

    with pytest.raises(PermanentSendError) as caught:
        await send_one(settings(twilio.base_url))

    assert caught.value.code == code
    assert twilio.requests == 1


async def test_wrong_auth_token_is_transient(twilio: FakeTwilioServer) -> None:
    """Rejected credentials (401, code 20003) are transient: every message waits for the fix."""
    with pytest.raises(TransientSendError) as caught:
        await send_one(settings(twilio.base_url, auth_token=SecretStr("wrong-token")))

    assert caught.value.code == "20003"
    assert twilio.messages == []


async def test_hanging_server_times_out_after_one_request(twilio: FakeTwilioServer) -> None:
    """A server that never answers gives TransientSendError within timeout_seconds, one POST."""
    twilio.fail_next(Failure.HANG)
    sms = settings(twilio.base_url, timeout_seconds=0.5)

    async with TwilioSmsChannel(sms, CALLBACK) as channel:
        started = time.monotonic()
        with pytest.raises(TransientSendError):
            await channel.send(OutgoingSms(to=TO, body=BODY))
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.2)  # room for a retry to show up, were there one

    assert 0.45 <= elapsed < 1.5
    assert twilio.requests == 1


async def test_server_not_listening_is_transient() -> None:
    """A refused connection is transient."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: nothing listens on it.

    with pytest.raises(TransientSendError):
        await send_one(settings(f"http://127.0.0.1:{port}"))


async def test_concurrency_bound_is_respected(twilio: FakeTwilioServer) -> None:
    """20 sends with concurrency 3 never have more than 3 requests at the server at once."""
    twilio.delay = 0.05
    sms = settings(twilio.base_url, concurrency=3)

    async with TwilioSmsChannel(sms, CALLBACK) as channel:
        sids = await asyncio.gather(
            *(channel.send(OutgoingSms(to=f"+4179123{n:04d}", body=BODY)) for n in range(20))
        )

    assert len(set(sids)) == 20
    assert len(twilio.messages) == 20
    assert twilio.max_in_flight == 3


async def test_message_body_is_never_logged(twilio: FakeTwilioServer) -> None:
    """Neither a sent nor a failed message's body appears in the channel's log events."""
    twilio.fail_next(Failure.SERVER_ERROR)

    with capture_logs() as events:
        async with TwilioSmsChannel(settings(twilio.base_url), CALLBACK) as channel:
            with pytest.raises(TransientSendError):
                await channel.send(OutgoingSms(to=TO, body=BODY))
            await channel.send(OutgoingSms(to=TO, body=BODY))

    assert {"sms_send_failed", "sms_accepted"} <= {event["event"] for event in events}
    assert all(BODY not in str(event) for event in events)


def test_signature_check_accepts_twilios_and_rejects_others() -> None:
    """A signature from the SDK's validator passes; a forged one and another URL's fail."""
    url = "https://notifier.example.org/webhooks/twilio/status"
    params = {"MessageSid": "SM" + "ab" * 16, "MessageStatus": "delivered", "To": TO}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    forged = RequestValidator("another-token").compute_signature(url, params)

    assert twilio_signature_is_valid(TOKEN, url, params, signature)
    assert not twilio_signature_is_valid(TOKEN, url, params, forged)
    assert not twilio_signature_is_valid(TOKEN, url + "/other", params, signature)


@pytest.mark.parametrize(
    ("status", "code", "kind", "expected_code"),
    [
        (429, 20429, TransientSendError, "20429"),
        (400, 20429, TransientSendError, "20429"),
        (401, 20003, TransientSendError, "20003"),
        (503, None, TransientSendError, "503"),
        (400, 21211, PermanentSendError, "21211"),
        (400, 21610, PermanentSendError, "21610"),
        (400, 21614, PermanentSendError, "21614"),
        (400, 21408, PermanentSendError, "21408"),
        (404, 20404, PermanentSendError, "20404"),
    ],
)
def test_classification_table(
    status: int, code: int | None, kind: type[SendError], expected_code: str
) -> None:
    """Each Twilio status and error code maps to the documented kind of failure and code."""
    error = TwilioRestException(status, "/Messages.json", "refused", code, "POST")

    failure = classify_failure(error)

    assert type(failure) is kind
    assert failure.code == expected_code


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), (None, None), ("soon", None)])
def test_retry_after_is_read_in_seconds(header: str | None, seconds: float | None) -> None:
    """Retry-After in seconds becomes retry_after; absent or unreadable gives None."""
    failure = classify_failure(TwilioRestException(429, "/Messages.json", "", 20429), header)

    assert isinstance(failure, TransientSendError)
    assert failure.retry_after == seconds
