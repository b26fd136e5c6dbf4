"""The fake Twilio's Calls resource, through the real SDK, calling a webhook app on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from notifier.channels.twilio_http import TwilioHttpClient
from tests.fakes.twilio_calls import Outcome, Said
from tests.fakes.twilio_server import Failure, FakeTwilioServer

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "the-auth-token-0123456789abcdef"
FROM = "+15005550006"
TO = "+41791234567"
PROMPT = "Flood warning for Lower Town. Press 1 if you are safe, 2 if you need help."
ALL_FIELDS = {"AccountSid", "ApiVersion", "CallSid", "CallStatus", "Direction", "From", "To"}


@dataclass(frozen=True, slots=True)
class Hit:
    """One request the webhook app received."""

    method: str
    path: str
    fields: dict[str, str]
    signed: bool


@dataclass(slots=True)
class Webhooks:
    """The notifier's side: answers TwiML, records every request and checks its signature."""

    base_url: str = ""
    hits: list[Hit] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def paths(self) -> list[str]:
        """The path of each request, in order."""
        return [hit.path for hit in self.hits]

    def at(self, path: str) -> list[Hit]:
        """The requests to `path`."""
        return [hit for hit in self.hits if hit.path == path]


def prompt() -> VoiceResponse:
    """A Gather for one digit, then what plays when nothing is pressed."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action="/voice/digits", method="POST", timeout=5)
    gather.say(PROMPT, voice="Polly.Joanna", language="en-US")
    response.append(gather)
    response.say("We received no answer. Goodbye.", voice="alice", language="en-GB")
    response.hangup()
    response.say("Never heard: after the hangup.")
    return response


def confirmation(digits: str) -> VoiceResponse:
    """The answer to a Gather's action: a confirmation, and a Gather no one answers."""
    response = VoiceResponse()
    response.say(f"You pressed {digits}. Thank you.", voice="Polly.Joanna", language="en-US")
    gather = Gather(num_digits=1)
    gather.say("Press 9 to hear this again.")
    response.append(gather)
    return response


def redirecting(target: str) -> VoiceResponse:
    """A Say, then a Redirect to `target`."""
    response = VoiceResponse()
    response.say(f"Going to {target}.")
    response.redirect(target, method="POST")
    return response


async def webhook_app(webhooks: Webhooks) -> web.Application:
    """Routes that record each request, then answer as the notifier would."""

    async def handle(request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else None
        signature = request.headers.get("X-Twilio-Signature", "")
        signed = RequestValidator(TOKEN).validate(str(request.url), form or {}, signature)
        fields = {k: v for k, v in (form or request.query).items() if isinstance(v, str)}
        webhooks.hits.append(Hit(request.method, request.path, fields, signed is True))
        if not signed:
            return web.Response(status=403)
        return await answer(request, fields)

    async def answer(request: web.Request, fields: dict[str, str]) -> web.StreamResponse:
        match request.path:
            case "/voice":
                twiml = prompt()
            case "/voice/digits":
                twiml = confirmation(fields["Digits"])
            case "/redirect":
                twiml = redirecting("/loop")
            case "/loop":
                twiml = redirecting("/loop")
            case "/broken":
                return web.Response(status=500, text="oops")
            case "/hang":
                await webhooks.release.wait()
                return web.Response(status=204)
            case _:
                return web.Response(status=204)
        return web.Response(text=str(twiml), content_type="application/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioServer]:
    """A fake Twilio that accepts SID and TOKEN."""
    async with FakeTwilioServer(SID, TOKEN) as server:
        yield server


@pytest.fixture
async def webhooks() -> AsyncIterator[Webhooks]:
    """The webhook side, listening on loopback."""
    recorded = Webhooks()
    runner = web.AppRunner(await webhook_app(recorded), shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    recorded.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield recorded
    recorded.release.set()
    await runner.cleanup()


@pytest.fixture
async def client(twilio: FakeTwilioServer) -> AsyncIterator[Any]:
    """The real twilio SDK, set up as notifier/channels/sms.py sets it up, aimed at the fake."""
    http = TwilioHttpClient(logging.Logger("twilio.http", logging.WARNING), 5.0)
    sdk = Client(SID, TOKEN, http_client=http, environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})
    sdk.api.base_url = twilio.base_url
    yield sdk
    await http.close()


async def place(client: Any, webhooks: Webhooks, **changes: Any) -> Any:
    """Create a call as the notifier will: Url, status callback on completion, AMD."""
    arguments: dict[str, Any] = {
        "to": TO,
        "from_": FROM,
        "url": f"{webhooks.base_url}/voice",
        "method": "POST",
        "status_callback": f"{webhooks.base_url}/status?delivery=42",
        "status_callback_event": ["completed"],
        "status_callback_method": "POST",
        "timeout": 30,
        "machine_detection": "Enable",
    }
    return await client.calls.create_async(**(arguments | changes))


async def test_create_answers_a_queued_call_resource(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """The SDK reads the 201: a CA sid, queued; the fake records what the call asked for."""
    created = await place(client, webhooks)

    [call] = twilio.calls
    assert created.sid == call.sid and call.sid.startswith("CA") and len(call.sid) == 34
    assert (created.status, created.to, created._from) == ("queued", TO, FROM)  # the SDK says _from
    assert created.date_created is not None and created.direction == "outbound-api"
    assert (call.to, call.from_, call.url) == (TO, FROM, f"{webhooks.base_url}/voice")
    assert call.status_callback == f"{webhooks.base_url}/status?delivery=42"
    assert call.status_callback_events == ["completed"]
    assert (call.method, call.status_callback_method) == ("POST", "POST")
    assert (call.timeout, call.machine_detection) == (30, "Enable")
    assert (twilio.call_requests, twilio.calls_answered[201], twilio.requests) == (1, 1, 0)
    await twilio.calls_finished(1)


async def test_a_human_pressing_1_is_heard_confirmed_and_reported(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """The Url, the Gather's action with Digits=1, then the status callback: all signed."""
    twilio.answer_calls(TO, Outcome.HUMAN, digits="1")
    created = await place(client, webhooks)
    [call] = await twilio.calls_finished(1)

    assert webhooks.paths() == ["/voice", "/voice/digits", "/status"]
    assert all(hit.signed and hit.method == "POST" for hit in webhooks.hits)
    first, digits, status = (hit.fields for hit in webhooks.hits)
    assert first.keys() >= ALL_FIELDS and first["CallSid"] == created.sid
    assert (first["CallStatus"], first["AnsweredBy"], first["To"]) == ("in-progress", "human", TO)
    assert (digits["Digits"], digits["CallSid"]) == ("1", created.sid)
    assert (status["CallStatus"], status["CallDuration"], status["AnsweredBy"]) == (
        "completed",
        "20",
        "human",
    )
    assert call.heard == [
        Said(PROMPT, "Polly.Joanna", "en-US"),
        Said("You pressed 1. Thank you.", "Polly.Joanna", "en-US"),
        Said("Press 9 to hear this again."),
    ]
    assert (call.digits, call.answered_by, call.status, call.duration) == (
        "1",
        "human",
        "completed",
        20,
    )
    assert call.webhook_statuses == [200, 200, 204] and call.errors == []
    assert call.webhooks_of("status_callback")[0].url.endswith("/status?delivery=42")


async def test_a_human_pressing_nothing_hears_what_follows_the_gather(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """By default a human answers and presses nothing: no action posted, the rest plays
    until the Hangup; without MachineDetection there is no AnsweredBy."""
    twilio.call_duration = 7
    await place(client, webhooks, machine_detection=None)
    [call] = await twilio.calls_finished(1)

    assert webhooks.paths() == ["/voice", "/status"]
    assert call.heard_texts == [PROMPT, "We received no answer. Goodbye."]
    assert call.heard[1] == Said("We received no answer. Goodbye.", "alice", "en-GB")
    assert "AnsweredBy" not in webhooks.hits[0].fields
    assert "AnsweredBy" not in webhooks.hits[1].fields
    assert webhooks.hits[1].fields["CallDuration"] == "7"
    assert call.digits is None and call.answered_by is None


@pytest.mark.parametrize(
    ("detection", "answered_by"),
    [("Enable", "machine_start"), ("DetectMessageEnd", "machine_end_beep")],
)
async def test_a_machine_hears_everything_and_presses_nothing(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks, detection: str, answered_by: str
) -> None:
    """Voicemail: AnsweredBy as Twilio's detection mode reports it, no Gather action."""
    twilio.answer_calls(TO, Outcome.MACHINE)
    await place(client, webhooks, machine_detection=detection)
    [call] = await twilio.calls_finished(1)

    assert webhooks.paths() == ["/voice", "/status"]
    assert webhooks.hits[0].fields["AnsweredBy"] == answered_by
    assert webhooks.hits[1].fields["AnsweredBy"] == answered_by
    assert webhooks.hits[1].fields["CallStatus"] == "completed"
    assert call.heard_texts == [PROMPT, "We received no answer. Goodbye."]
    assert (call.answered_by, call.outcome) == (answered_by, Outcome.MACHINE)


@pytest.mark.parametrize("outcome", [Outcome.BUSY, Outcome.NO_ANSWER, Outcome.FAILED])
async def test_an_unanswered_call_only_calls_back_its_status(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks, outcome: Outcome
) -> None:
    """Busy, no-answer, failed: the Url is never requested; CallStatus says which."""
    twilio.answer_all_calls(outcome)
    await place(client, webhooks)
    [call] = await twilio.calls_finished(1)

    assert webhooks.paths() == ["/status"]
    [status] = webhooks.hits
    assert status.signed
    assert (status.fields["CallStatus"], status.fields["CallDuration"]) == (str(outcome), "0")
    assert "AnsweredBy" not in status.fields
    assert (call.status, call.heard, call.answered_by) == (str(outcome), [], None)


async def test_a_number_scripted_overrides_the_default(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """answer_calls wins over answer_all_calls for its number."""
    twilio.answer_all_calls(Outcome.BUSY)
    twilio.answer_calls("+41790000002", Outcome.HUMAN, digits="2")
    await place(client, webhooks)
    await place(client, webhooks, to="+41790000002")
    calls = await twilio.calls_finished(2)

    assert sorted(call.status for call in calls) == ["busy", "completed"]
    assert [hit.fields["Digits"] for hit in webhooks.at("/voice/digits")] == ["2"]


async def test_an_invalid_number_is_refused_with_21217(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """fail_for applies to calls; an invalid number answers 400 and code 21217."""
    twilio.fail_for(TO, Failure.INVALID_NUMBER)
    with pytest.raises(TwilioRestException) as raised:
        await place(client, webhooks)

    assert (raised.value.status, raised.value.code) == (400, 21217)
    assert twilio.calls == [] and twilio.call_requests == 1 and twilio.calls_answered[400] == 1
    await asyncio.sleep(0.05)
    assert webhooks.hits == []


async def test_fail_next_applies_to_calls(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """A scripted 429 is answered to the next Calls request, then calls are accepted again."""
    twilio.fail_next(Failure.RATE_LIMITED)
    with pytest.raises(TwilioRestException) as raised:
        await place(client, webhooks)
    assert raised.value.status == 429
    await place(client, webhooks)
    assert len(twilio.calls) == 1 and twilio.call_requests == 2


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"to": ""}, 21201), ({"from_": ""}, 21213), ({"url": None}, 21205)],
)
async def test_a_missing_field_is_refused(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks, changes: dict[str, Any], code: int
) -> None:
    """To, From, and Url (or Twiml) are required: 400 with Twilio's code."""
    with pytest.raises(TwilioRestException) as raised:
        await place(client, webhooks, **changes)

    assert (raised.value.status, raised.value.code) == (400, code)
    assert twilio.calls == []


async def test_wrong_credentials_are_refused(twilio: FakeTwilioServer, webhooks: Webhooks) -> None:
    """A wrong auth token answers 401, as for messages."""
    http = TwilioHttpClient(logging.Logger("twilio.http", logging.WARNING), 5.0)
    sdk = Client(
        SID, "wrong", http_client=http, environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""}
    )
    sdk.api.base_url = twilio.base_url
    try:
        with pytest.raises(TwilioRestException) as raised:
            await place(sdk, webhooks)
    finally:
        await http.close()
    assert raised.value.status == 401 and twilio.calls == []


async def test_a_redirect_is_followed_once(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """A Redirect is posted to, signed; the second one ends the call instead of looping."""
    await place(client, webhooks, url=f"{webhooks.base_url}/redirect")
    [call] = await twilio.calls_finished(1)

    assert webhooks.paths() == ["/redirect", "/loop", "/status"]
    assert all(hit.signed for hit in webhooks.hits)
    assert call.heard_texts == ["Going to /loop.", "Going to /loop."]
    assert [webhook.kind for webhook in call.webhooks] == ["url", "redirect", "status_callback"]
    assert any("not followed" in error for error in call.errors)


async def test_a_failing_webhook_still_completes_the_call(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """A 500 from the Url is recorded; nothing is heard; the call still completes."""
    await place(client, webhooks, url=f"{webhooks.base_url}/broken")
    [call] = await twilio.calls_finished(1)

    assert call.webhook_statuses == [500, 204]
    assert call.heard == [] and call.status == "completed"
    assert call.errors and call.errors[0].startswith("11200")


async def test_get_methods_carry_the_fields_in_the_signed_query(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """Method=GET and StatusCallbackMethod=GET: fields in the query, signature over it."""
    twilio.answer_calls(TO, Outcome.HUMAN, digits="1")
    await place(client, webhooks, method="GET", status_callback_method="GET")
    await twilio.calls_finished(1)

    assert [(hit.method, hit.path) for hit in webhooks.hits] == [
        ("GET", "/voice"),
        ("POST", "/voice/digits"),
        ("GET", "/status"),
    ]
    assert all(hit.signed for hit in webhooks.hits)
    assert webhooks.hits[0].fields["CallStatus"] == "in-progress"
    assert webhooks.hits[2].fields["delivery"] == "42"


async def test_progress_events_are_called_back_when_asked(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """initiated, ringing, answered, completed: each a callback, numbered in order."""
    events = ["initiated", "ringing", "answered", "completed"]
    await place(client, webhooks, status_callback_event=events)
    await twilio.calls_finished(1)

    statuses = [hit.fields["CallStatus"] for hit in webhooks.at("/status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert [hit.fields["SequenceNumber"] for hit in webhooks.at("/status")] == ["0", "1", "2", "3"]
    assert webhooks.paths().index("/voice") == 3


async def test_inline_twiml_plays_without_a_url(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """Twiml instead of Url: played as given, no request but the status callback."""
    twiml = VoiceResponse()
    twiml.say("Inline warning.", voice="man")
    await place(client, webhooks, url=None, twiml=str(twiml))
    [call] = await twilio.calls_finished(1)

    assert call.heard == [Said("Inline warning.", "man")]
    assert webhooks.paths() == ["/status"]


async def test_calls_finished_says_what_it_saw(
    twilio: FakeTwilioServer, client: Any, webhooks: Webhooks
) -> None:
    """Waiting for more calls than played fails with the calls seen."""
    created = await place(client, webhooks, status_callback=None)
    await twilio.calls_finished(1)
    with pytest.raises(AssertionError, match=rf"1 of 2 calls finished(.|\n)*{created.sid}"):
        await twilio.calls_finished(2, timeout=0.2)


async def test_leaving_cancels_a_call_still_playing(client: Any, webhooks: Webhooks) -> None:
    """A call whose webhook does not answer is cancelled when the server closes."""
    async with FakeTwilioServer(SID, TOKEN) as server:
        client.api.base_url = server.base_url
        await place(client, webhooks, url=f"{webhooks.base_url}/hang")
        while not webhooks.hits:
            await asyncio.sleep(0.01)
    [call] = server.calls
    assert not call.finished and call.status == "in-progress"


async def test_messages_are_counted_apart_from_calls(twilio: FakeTwilioServer, client: Any) -> None:
    """A message still posts to Messages, counted in `requests`, not in `call_requests`."""
    await client.messages.create_async(to=TO, from_=FROM, body="Test")
    assert (twilio.requests, twilio.call_requests, len(twilio.messages)) == (1, 0, 1)
