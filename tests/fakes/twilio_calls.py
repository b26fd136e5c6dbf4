"""Voice calls played as Twilio plays them: answered as scripted, TwiML followed, all signed."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit
from xml.etree import ElementTree

import aiohttp
from twilio.request_validator import RequestValidator
from yarl import URL

API_VERSION = "2010-04-01"
DEFAULT_DURATION_SECONDS = 20
MAX_REDIRECTS = 1
"""`<Redirect>`s followed in one call; a later one ends the call, so no TwiML loops forever."""


class Outcome(StrEnum):
    """What becomes of a placed call; the value of a failed outcome is its CallStatus."""

    HUMAN = "human"  # a person answers, and may press digits at the first <Gather>
    MACHINE = "machine"  # voicemail answers: hears every verb, presses nothing
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


ANSWERED = frozenset({Outcome.HUMAN, Outcome.MACHINE})

# The progress events (StatusCallbackEvent) each outcome goes through before it ends.
_PROGRESS: dict[Outcome, tuple[tuple[str, str], ...]] = {
    Outcome.HUMAN: (("initiated", "initiated"), ("ringing", "ringing")),
    Outcome.MACHINE: (("initiated", "initiated"), ("ringing", "ringing")),
    Outcome.BUSY: (("initiated", "initiated"),),
    Outcome.NO_ANSWER: (("initiated", "initiated"), ("ringing", "ringing")),
    Outcome.FAILED: (),
}


@dataclass(frozen=True, slots=True)
class CallScript:
    """How a callee answers: the outcome, and for a human the digits pressed at the first
    `<Gather>` (None: presses nothing, and the verbs after the Gather play)."""

    outcome: Outcome = Outcome.HUMAN
    digits: str | None = None

    def __post_init__(self) -> None:
        if self.digits is not None and self.outcome is not Outcome.HUMAN:
            raise ValueError(f"only a human presses digits, not a {self.outcome} call")
        if self.digits == "":
            raise ValueError("digits must be None (nothing pressed) or at least one key")


@dataclass(frozen=True, slots=True)
class Said:
    """One `<Say>` the callee heard, as the TwiML gave it (None: attribute absent)."""

    text: str
    voice: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Webhook:
    """One signed request the fake made for a call, and the HTTP status of its answer."""

    kind: str  # "url", "gather", "redirect" or "status_callback"
    method: str
    url: str  # as requested and signed, query included
    fields: dict[str, str]
    status: int | None  # None: no answer (refused, reset, timed out)


@dataclass(slots=True)
class ReceivedCall:
    """A call the server accepted (answered 201), and how it has played so far."""

    sid: str
    to: str
    from_: str
    url: str | None
    twiml: str | None
    method: str
    status_callback: str | None
    status_callback_events: list[str]
    status_callback_method: str
    timeout: int | None
    machine_detection: str | None
    received_at: datetime
    outcome: Outcome | None = None
    """The scripted outcome, once the call is played."""
    answered_by: str | None = None
    """AnsweredBy sent with the webhooks: only when created with MachineDetection."""
    heard: list[Said] = field(default_factory=list)
    digits: str | None = None
    """The Digits posted to a Gather's action, if any."""
    webhooks: list[Webhook] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """What Twilio would log in its debugger (11200 retrieval, 12100 parse failures...)."""
    status: str = "queued"
    duration: int = 0
    finished: bool = False
    """Played to the end: the final status callback sent, or none to send."""

    @property
    def webhook_statuses(self) -> list[int | None]:
        """The HTTP status of each webhook's answer, in order."""
        return [webhook.status for webhook in self.webhooks]

    @property
    def heard_texts(self) -> list[str]:
        """The text of each `<Say>` heard, in order."""
        return [said.text for said in self.heard]

    def webhooks_of(self, kind: str) -> list[Webhook]:
        """The webhooks of one kind ("url", "gather", "redirect", "status_callback")."""
        return [webhook for webhook in self.webhooks if webhook.kind == kind]


def call_field_error(pairs: Sequence[tuple[str, str]]) -> tuple[int, str] | None:
    """Twilio's code and message for a Calls request missing a required field, else None."""
    fields = dict(pairs)
    if not fields.get("To"):
        return 21201, "No 'To' number is specified"
    if not fields.get("From"):
        return 21213, "No 'From' number is specified"
    if not (fields.get("Url") or fields.get("Twiml")):
        return 21205, "Url parameter is required"
    return None


def received_call(pairs: Sequence[tuple[str, str]]) -> ReceivedCall:
    """The call a valid Calls request (see `call_field_error`) creates."""
    fields = dict(pairs)
    events = [
        event for name, value in pairs if name == "StatusCallbackEvent" for event in value.split()
    ]
    return ReceivedCall(
        sid="CA" + secrets.token_hex(16),
        to=fields["To"],
        from_=fields["From"],
        url=fields.get("Url") or None,
        twiml=fields.get("Twiml") or None,
        method=_method(fields.get("Method")),
        status_callback=fields.get("StatusCallback") or None,
        status_callback_events=events,
        status_callback_method=_method(fields.get("StatusCallbackMethod")),
        timeout=int(fields["Timeout"]) if fields.get("Timeout", "").isdigit() else None,
        machine_detection=fields.get("MachineDetection") or None,
        received_at=datetime.now(UTC),
    )


def call_resource(account_sid: str, call: ReceivedCall) -> dict[str, Any]:
    """The JSON Twilio answers for a newly created Call."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call.sid}"
    date = format_datetime(call.received_at)
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": date,
        "date_updated": date,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {
            "notifications": f"{uri}/Notifications.json",
            "recordings": f"{uri}/Recordings.json",
            "events": f"{uri}/Events.json",
        },
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


@dataclass(frozen=True, slots=True)
class _Step:
    """The next TwiML document to fetch."""

    kind: str
    url: str
    method: str
    extra: dict[str, str]


class CallPlayer:
    """Plays one call to its end: answered or not as scripted, its TwiML fetched and followed,
    its status called back; every request signed with the account's auth token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account_sid: str,
        auth_token: str,
        call: ReceivedCall,
        script: CallScript,
        *,
        duration: int = DEFAULT_DURATION_SECONDS,
        ring_seconds: float = 0.0,
    ) -> None:
        self._session = session
        self._account_sid = account_sid
        self._validator = RequestValidator(auth_token)
        self._call = call
        self._script = script
        self._duration = duration
        self._ring_seconds = ring_seconds
        self._digits = script.digits
        self._redirects = 0
        self._sequence = 0

    async def play(self) -> None:
        """Ring, answer or not, converse, report; the call is `finished` after."""
        call, outcome = self._call, self._script.outcome
        call.outcome = outcome
        for event, status in _PROGRESS[outcome]:
            await self._progress(event, status, {})
        if self._ring_seconds:
            await asyncio.sleep(self._ring_seconds)
        if outcome in ANSWERED:
            call.answered_by = self._answered_by()
            call.status = "in-progress"
            await self._progress("answered", "in-progress", {})
            await self._converse()
            call.status, call.duration = "completed", self._duration
        else:
            call.status = str(outcome)
        await self._progress("completed", call.status, {"CallDuration": str(call.duration)})
        call.finished = True

    def _answered_by(self) -> str | None:
        detection = self._call.machine_detection
        if detection is None:
            return None
        if self._script.outcome is Outcome.HUMAN:
            return "human"
        return "machine_end_beep" if detection == "DetectMessageEnd" else "machine_start"

    async def _progress(self, event: str, status: str, extra: dict[str, str]) -> None:
        """The status callback of `event`, if the call asked for it (completed by default)."""
        call = self._call
        wanted = call.status_callback_events or ["completed"]
        if call.status_callback is None or event not in wanted:
            return
        self._sequence += 1
        fields = self._fields(status) | extra
        fields |= {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self._sequence - 1),
            "Timestamp": format_datetime(datetime.now(UTC)),
        }
        await self._request(
            "status_callback", call.status_callback_method, call.status_callback, fields
        )

    async def _converse(self) -> None:
        call = self._call
        step: _Step | None
        if call.url is None:
            step = self._perform(call.twiml or "", None)
        else:
            step = _Step("url", call.url, call.method, {})
        while step is not None:
            document = await self._fetch(step)
            step = None if document is None else self._perform(document, step.url)

    async def _fetch(self, step: _Step) -> str | None:
        """The TwiML at `step`, or None (recorded as an error) when there is none to play."""
        fields = self._fields("in-progress") | step.extra
        status, text = await self._request(step.kind, step.method, step.url, fields)
        if status is None or not 200 <= status < 300:
            self._call.errors.append(f"11200 HTTP retrieval failure: {status} from {step.url}")
            return None
        return text

    def _perform(self, document: str, base: str | None) -> _Step | None:
        """Play a TwiML document: what it says is heard; the next document to fetch, if any."""
        try:
            root = ElementTree.fromstring(document)
        except ElementTree.ParseError as error:
            self._call.errors.append(f"12100 Document parse failure: {error}")
            return None
        if root.tag != "Response":
            self._call.errors.append(f"12100 Document parse failure: root <{root.tag}>")
            return None
        for verb in root:
            if verb.tag == "Say":
                self._hear(verb)
            elif verb.tag == "Gather":
                step = self._gather(verb, base)
                if step is not None:
                    return step
            elif verb.tag in ("Hangup", "Reject"):
                return None
            elif verb.tag == "Redirect":
                return self._redirect(verb, base)
        return None

    def _hear(self, say: ElementTree.Element) -> None:
        text = "".join(say.itertext()).strip()
        self._call.heard.append(Said(text, say.get("voice"), say.get("language")))

    def _gather(self, gather: ElementTree.Element, base: str | None) -> _Step | None:
        """Hear the Gather's prompts; the action to post if digits are pressed, else None."""
        for child in gather:
            if child.tag == "Say":
                self._hear(child)
        digits = self._press(gather)
        if digits is None:
            return None
        action = gather.get("action")
        target = urljoin(base or "", action) if action else base
        if target is None:
            self._call.errors.append("Gather without an action in inline TwiML: digits dropped")
            return None
        return _Step("gather", target, _method(gather.get("method")), {"Digits": digits})

    def _press(self, gather: ElementTree.Element) -> str | None:
        """The digits the callee enters at this Gather: the script's, at the first one only."""
        if "dtmf" not in gather.get("input", "dtmf"):
            return None
        pressed, self._digits = self._digits, None
        if pressed is None:
            return None
        finish = gather.get("finishOnKey", "#")
        if finish and finish in pressed:
            pressed = pressed[: pressed.index(finish)]
        limit = gather.get("numDigits", "")
        if limit.isdigit():
            pressed = pressed[: int(limit)]
        self._call.digits = pressed or None
        return pressed or None

    def _redirect(self, redirect: ElementTree.Element, base: str | None) -> _Step | None:
        target = urljoin(base or "", (redirect.text or "").strip())
        if self._redirects >= MAX_REDIRECTS:
            self._call.errors.append(f"Redirect to {target} not followed: one per call")
            return None
        self._redirects += 1
        return _Step("redirect", target, _method(redirect.get("method")), {})

    def _fields(self, status: str) -> dict[str, str]:
        """The parameters of the call Twilio sends with every request about it."""
        call = self._call
        fields = {
            "AccountSid": self._account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }
        if call.answered_by is not None:
            fields["AnsweredBy"] = call.answered_by
        return fields

    async def _request(
        self, kind: str, method: str, url: str, fields: dict[str, str]
    ) -> tuple[int | None, str]:
        """Send one signed request as Twilio does (a GET carries the fields in its query);
        the status and text of the answer, (None, "") when there is no answer."""
        target, body = (_with_query(url, fields), {}) if method == "GET" else (url, fields)
        headers = {
            "X-Twilio-Signature": self._validator.compute_signature(target, body),
            "User-Agent": "TwilioProxy/1.1",
        }
        status: int | None = None
        text = ""
        try:
            async with self._session.request(
                method, URL(target, encoded=True), data=body or None, headers=headers
            ) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            self._call.errors.append(f"11200 no answer from {target}: {type(error).__name__}")
        self._call.webhooks.append(Webhook(kind, method, target, fields, status))
        return status, text


def _method(value: str | None) -> str:
    """An HTTP method as Twilio reads one: GET, or POST (the default)."""
    return "GET" if (value or "").upper() == "GET" else "POST"


def _with_query(url: str, fields: dict[str, str]) -> str:
    query = urlsplit(url).query
    return f"{url}{'&' if query else '?'}{urlencode(fields)}"
