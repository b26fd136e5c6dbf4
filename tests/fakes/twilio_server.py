"""A Twilio-compatible Messages and Calls API on loopback, scriptable, for tests and benchmarks.

    async with FakeTwilioServer(account_sid, auth_token) as twilio:
        twilio.fail_next(Failure.RATE_LIMITED)       # the next request answers 429
        twilio.fail_for("+15005550001", Failure.INVALID_NUMBER)
        twilio.fail_all(Failure.SERVER_ERROR)        # every request, until fail_all(None)
        twilio.fail_fraction(0.3, [Failure.RATE_LIMITED, Failure.SERVER_ERROR], seed=7)
                                                     # 30 % of requests, until fail_fraction(0)
        twilio.delay = 1.0                           # each accepted request answers a second late
        ... point the SDK at twilio.base_url ...
        twilio.messages, twilio.requests, twilio.answered, twilio.in_flight, twilio.max_in_flight
        twilio.account_fetches                       # reads of the Account (credential checks)

    Calls are played after their 201, over HTTP to the URLs they name, signed as Twilio signs
    (tests/fakes/twilio_calls.py):

        twilio.answer_calls("+15005550001", Outcome.HUMAN, digits="1")  # presses 1 at a Gather
        twilio.answer_calls("+15005550002", Outcome.BUSY)
        twilio.answer_all_calls(Outcome.MACHINE)     # every number not scripted otherwise
        twilio.call_duration = 20                    # CallDuration of answered calls
        await twilio.calls_finished(2)               # both played to their status callback
        twilio.calls, twilio.call_requests, twilio.calls_answered

As a process, for a benchmark (accepts everything, prints `ready PORT`, then `received N`
on SIGTERM): `python -m tests.fakes.twilio_server --port 0 --sid AC... --token ... [--delay S]`
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import random
import secrets
import signal
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

from aiohttp import ClientSession, ClientTimeout, web

from tests.fakes.twilio_calls import (
    DEFAULT_DURATION_SECONDS,
    CallPlayer,
    CallScript,
    Outcome,
    ReceivedCall,
    call_field_error,
    call_resource,
    received_call,
)

MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
CALLS_PATH = "/2010-04-01/Accounts/{sid}/Calls.json"
ACCOUNT_PATH = "/2010-04-01/Accounts/{sid}.json"
RETRY_AFTER_SECONDS = 2
WEBHOOK_TIMEOUT_SECONDS = 15.0
"""How long the fake waits for a webhook's answer, as Twilio does."""


class Failure(StrEnum):
    """A scripted answer other than 201."""

    RATE_LIMITED = "rate_limited"  # 429, code 20429, Retry-After
    SERVER_ERROR = "server_error"  # 500, code 20500
    INVALID_NUMBER = "invalid_number"  # 400, code 21211
    UNSUBSCRIBED = "unsubscribed"  # 400, code 21610
    HANG = "hang"  # no answer until the server closes


_ERRORS: dict[Failure, tuple[int, int, str]] = {
    Failure.RATE_LIMITED: (429, 20429, "Too Many Requests"),
    Failure.SERVER_ERROR: (500, 20500, "An internal server error has occurred"),
    Failure.INVALID_NUMBER: (400, 21211, "The 'To' number is not a valid phone number."),
    Failure.UNSUBSCRIBED: (400, 21610, "Attempt to send to unsubscribed recipient"),
}
_CALL_ERRORS: dict[Failure, tuple[int, int, str]] = _ERRORS | {
    Failure.INVALID_NUMBER: (400, 21217, "Phone number is not a valid phone number"),
}


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message the server accepted (answered 201)."""

    sid: str
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    received_at: datetime


class FakeTwilioServer:
    """The Messages and Calls resources of Twilio's REST API, with HTTP Basic authentication;
    each call accepted is then played to the URLs it names."""

    def __init__(
        self, account_sid: str, auth_token: str, *, port: int = 0, delay: float = 0.0
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.delay = delay
        """Seconds each accepted request waits before its answer."""
        self.messages: list[ReceivedMessage] = []
        self.requests = 0
        """Requests that reached the Messages endpoint, whatever the answer."""
        self.answered: Counter[int] = Counter()
        """The Messages endpoint's answers by HTTP status (201, 429, 500...), once answered."""
        self.account_fetches = 0
        """Requests that read the Account resource, whatever the answer."""
        self.in_flight = 0
        """Requests to the Messages endpoint not answered yet."""
        self.first_at: float | None = None
        """Wall-clock time (time.time()) of the first accepted message, for benchmarks."""
        self.last_at: float | None = None
        self.max_in_flight = 0
        self.calls: list[ReceivedCall] = []
        """Every call accepted (answered 201), played or being played."""
        self.call_requests = 0
        """Requests that reached the Calls endpoint, whatever the answer."""
        self.calls_answered: Counter[int] = Counter()
        """The Calls endpoint's answers by HTTP status."""
        self.call_duration = DEFAULT_DURATION_SECONDS
        """The CallDuration (seconds) reported for an answered call."""
        self.call_ring_seconds = 0.0
        """Seconds a call rings before it is answered (or its failure reported)."""
        self._call_scripts: dict[str, CallScript] = {}
        self._default_call = CallScript()
        self._call_tasks: list[asyncio.Task[None]] = []
        self._call_progress = asyncio.Condition()
        self._webhooks: ClientSession | None = None
        self._port = port
        self._next: deque[Failure] = deque()
        self._by_number: dict[str, Failure] = {}
        self._every: Failure | None = None
        self._fraction = 0.0
        self._fraction_failures: tuple[Failure, ...] = ()
        self._random = random.Random(0)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._runner is None:
            raise RuntimeError("the fake Twilio server is not running")
        port: int = self._runner.addresses[0][1]
        return port

    @property
    def base_url(self) -> str:
        """What `sms.api_base_url` must be for the SDK to reach this server."""
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, failure: Failure, count: int = 1) -> None:
        """Answer the next `count` requests (not scripted by number) with `failure`."""
        self._next.extend([failure] * count)

    def fail_for(self, number: str, failure: Failure) -> None:
        """Answer every request to `number` with `failure`."""
        self._by_number[number] = failure

    def fail_all(self, failure: Failure | None) -> None:
        """Answer every request not scripted otherwise with `failure`; None accepts again."""
        self._every = failure

    def fail_fraction(self, fraction: float, failures: Sequence[Failure], *, seed: int = 0) -> None:
        """Answer each request not scripted otherwise with one of `failures` with probability
        `fraction` (0 accepts again); which requests and which failure come from a generator
        seeded with `seed`, so a run's sequence of answers can be repeated."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction {fraction} is not between 0 and 1")
        if fraction and not failures:
            raise ValueError("a fraction of requests must fail with at least one failure")
        self._fraction = fraction
        self._fraction_failures = tuple(failures)
        self._random = random.Random(seed)

    def answer_calls(
        self, number: str, outcome: Outcome = Outcome.HUMAN, *, digits: str | None = None
    ) -> None:
        """Play every later call to `number` so: a human pressing `digits` at the first Gather
        (None: nothing), a machine, or busy, no-answer, failed."""
        self._call_scripts[number] = CallScript(outcome, digits)

    def answer_all_calls(
        self, outcome: Outcome = Outcome.HUMAN, *, digits: str | None = None
    ) -> None:
        """Play every later call to a number not scripted by `answer_calls` so (at first: a
        human who presses nothing)."""
        self._default_call = CallScript(outcome, digits)

    async def calls_finished(self, count: int, timeout: float = 5.0) -> list[ReceivedCall]:
        """Wait until at least `count` calls have played to the end; those calls. An
        AssertionError says what was seen if that takes longer than `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout), self._call_progress:
                await self._call_progress.wait_for(lambda: len(self._finished()) >= count)
        except TimeoutError:
            seen = "\n".join(f"  {call!r}" for call in self.calls) or "  none"
            raise AssertionError(
                f"{len(self._finished())} of {count} calls finished within {timeout} s;"
                f" calls:\n{seen}"
            ) from None
        return self._finished()

    def _finished(self) -> list[ReceivedCall]:
        return [call for call in self.calls if call.finished]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post(MESSAGES_PATH, self._create_message)
        app.router.add_post(CALLS_PATH, self._create_call)
        app.router.add_get(ACCOUNT_PATH, self._fetch_account)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        self._webhooks = ClientSession(timeout=ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing.set()  # releases hanging requests
        failure = await self._stop_calls()
        if self._webhooks is not None:
            await self._webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if failure is not None and exc is None:
            raise failure

    async def _stop_calls(self) -> BaseException | None:
        """Cancel the calls still playing; the first error a call's task raised, if any."""
        for task in self._call_tasks:
            task.cancel()
        results = await asyncio.gather(*self._call_tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        return next((e for e in errors if not isinstance(e, asyncio.CancelledError)), None)

    async def _create_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = await self._answer(request)
        finally:
            self.in_flight -= 1
        self.answered[response.status] += 1
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        screened = await self._screen(request, _ERRORS)
        if isinstance(screened, web.Response):
            return screened
        fields = dict(screened)
        missing = _missing_field(fields)
        if missing is not None:
            return _error(400, *missing)
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response(self._accept(fields), status=201)

    async def _screen(
        self, request: web.Request, errors: dict[Failure, tuple[int, int, str]]
    ) -> web.Response | list[tuple[str, str]]:
        """The error answer for credentials, account or a scripted failure; else the form's
        fields, as (name, value) pairs in the order posted."""
        if not self._authenticated(request.headers.get("Authorization", "")):
            return _error(401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        form = await request.post()
        pairs = [(key, value) for key, value in form.items() if isinstance(value, str)]
        failure = self._by_number.get(dict(pairs).get("To", "")) or (
            self._next.popleft() if self._next else None
        )
        failure = failure or self._every or self._random_failure()
        if failure is Failure.HANG:
            await self._closing.wait()
            return _error(503, 20503, "Service unavailable")
        if failure is not None:
            status, code, text = errors[failure]
            return _error(status, code, text)
        return pairs

    async def _create_call(self, request: web.Request) -> web.StreamResponse:
        self.call_requests += 1
        response = await self._answer_call(request)
        self.calls_answered[response.status] += 1
        return response

    async def _answer_call(self, request: web.Request) -> web.StreamResponse:
        screened = await self._screen(request, _CALL_ERRORS)
        if isinstance(screened, web.Response):
            return screened
        missing = call_field_error(screened)
        if missing is not None:
            return _error(400, *missing)
        if self.delay:
            await asyncio.sleep(self.delay)
        call = received_call(screened)
        self.calls.append(call)
        response = web.json_response(call_resource(self.account_sid, call), status=201)
        # Sent before the call plays, as Twilio queues a call before it dials.
        await response.prepare(request)
        await response.write_eof()
        self._play(call)
        return response

    def _play(self, call: ReceivedCall) -> None:
        if self._webhooks is None:
            raise RuntimeError("the fake Twilio server is not running")
        player = CallPlayer(
            self._webhooks,
            self.account_sid,
            self.auth_token,
            call,
            self._call_scripts.get(call.to, self._default_call),
            duration=self.call_duration,
            ring_seconds=self.call_ring_seconds,
        )
        self._call_tasks.append(asyncio.create_task(self._played(player)))

    async def _played(self, player: CallPlayer) -> None:
        try:
            await player.play()
        finally:
            async with self._call_progress:
                self._call_progress.notify_all()

    def _random_failure(self) -> Failure | None:
        if self._fraction and self._random.random() < self._fraction:
            return self._random.choice(self._fraction_failures)
        return None

    async def _fetch_account(self, request: web.Request) -> web.Response:
        """The Account resource: what a client reads to prove its credentials work."""
        self.account_fetches += 1
        if not self._authenticated(request.headers.get("Authorization", "")):
            return _error(401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        return web.json_response(_account(self.account_sid))

    def _authenticated(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(f"{user}:{password}", f"{self.account_sid}:{self.auth_token}")

    def _accept(self, fields: dict[str, str]) -> dict[str, Any]:
        now = datetime.now(UTC)
        message = ReceivedMessage(
            sid="SM" + secrets.token_hex(16),
            to=fields["To"],
            body=fields["Body"],
            from_=fields.get("From"),
            messaging_service_sid=fields.get("MessagingServiceSid"),
            status_callback=fields.get("StatusCallback"),
            received_at=now,
        )
        self.messages.append(message)
        self.last_at = time.time()
        self.first_at = self.first_at or self.last_at
        return _resource(self.account_sid, message)


def _missing_field(fields: dict[str, str]) -> tuple[int, str] | None:
    if not fields.get("To"):
        return 21604, "A 'To' phone number is required."
    if not (fields.get("From") or fields.get("MessagingServiceSid")):
        return 21603, "A 'From' or 'MessagingServiceSid' parameter is required"
    if not fields.get("Body"):
        return 21602, "Message body is required."
    return None


def _resource(account_sid: str, message: ReceivedMessage) -> dict[str, Any]:
    """The JSON Twilio answers for a newly created Message."""
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{message.sid}"
    date = format_datetime(message.received_at)
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": message.body,
        "date_created": date,
        "date_sent": None,
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": "queued" if message.from_ else "accepted",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def _account(account_sid: str) -> dict[str, Any]:
    """The JSON Twilio answers for an Account."""
    return {
        "sid": account_sid,
        "owner_account_sid": account_sid,
        "friendly_name": "Fake account",
        "status": "active",
        "type": "Full",
        "date_created": "Mon, 30 Nov 2026 12:00:00 +0000",
        "date_updated": "Mon, 30 Nov 2026 12:00:00 +0000",
        "uri": f"/2010-04-01/Accounts/{account_sid}.json",
    }


def _error(status: int, code: int, message: str) -> web.Response:
    """Twilio's JSON error body; a 429 also says when to come back."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 429 else None
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status, headers=headers)


async def _serve(port: int, account_sid: str, auth_token: str, delay: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with FakeTwilioServer(account_sid, auth_token, port=port, delay=delay) as server:
        print(f"ready {server.port}", flush=True)
        await stop.wait()
        print(
            f"received {len(server.messages)} first {server.first_at} last {server.last_at}",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server until SIGTERM, for a benchmark in another process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sid", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds before each message is answered"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.sid, args.token, args.delay))


if __name__ == "__main__":
    main()
