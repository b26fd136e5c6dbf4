"""`notifier demo reply PHONE TEXT`: answer the demo as a person's phone, the way Twilio would.

It posts the form Twilio posts for an inbound SMS to the running demo's
`/webhooks/twilio/sms`, signed (X-Twilio-Signature) with the demo's SMS auth token over
`http.public_url` + the path, so the daemon checks it exactly as it checks Twilio's, and
prints what the daemon answered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import shlex
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

from notifier.errors import InputError
from notifier.settings import Settings
from notifier.web.twilio_form import E164

REPLY_PATH = "/webhooks/twilio/sms"
DEMO_ACCOUNT_SID = "AC" + "0" * 32
DEMO_NUMBER = "+15005550006"  # Twilio's number for tests: the demo's own "from" number
TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class SignedReply:
    """One inbound SMS as Twilio would post it: the URL, the form, and its signature."""

    url: str
    form: tuple[tuple[str, str], ...]
    signature: str


@dataclass(frozen=True, slots=True)
class DaemonAnswer:
    """The daemon's HTTP status and body."""

    status: int
    body: str


def signed_reply(settings: Settings, phone: str, text: str) -> SignedReply:
    """The signed webhook request of an SMS from `phone` saying `text`."""
    if not E164.fullmatch(phone):
        raise InputError(f"PHONE: expected a number in E.164, like +254722328099; got {phone!r}")
    auth_token = settings.sms.auth_token.get_secret_value()
    if not auth_token:
        raise InputError("sms.auth_token: the demo has none to sign with")
    form = (
        ("MessageSid", "SM" + secrets.token_hex(16)),
        ("AccountSid", settings.sms.account_sid or DEMO_ACCOUNT_SID),
        ("From", phone),
        ("To", settings.sms.from_number or DEMO_NUMBER),
        ("Body", text),
        ("NumMedia", "0"),
    )
    url = settings.http.public_url.rstrip("/") + REPLY_PATH
    return SignedReply(url, form, twilio_signature(auth_token, url, form))


def twilio_signature(auth_token: str, url: str, form: Iterable[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 of the URL and each name and value, by name."""
    signed = url + "".join(name + value for name, value in sorted(form))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def curl_command(reply: SignedReply) -> str:
    """The same request as a `curl` command line (each field URL-encoded: `+` stays a plus)."""
    words = ["curl", "-sS", reply.url, "-H", f"X-Twilio-Signature: {reply.signature}"]
    for name, value in reply.form:
        words += ["--data-urlencode", f"{name}={value}"]
    return shlex.join(words)


def post(reply: SignedReply) -> DaemonAnswer:
    """Send the request to the daemon; InputError if nothing answers there."""
    request = urllib.request.Request(
        reply.url,
        data=urllib.parse.urlencode(reply.form).encode(),
        headers={"X-Twilio-Signature": reply.signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return DaemonAnswer(response.status, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return DaemonAnswer(error.code, error.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise InputError(
            f"no demo daemon answers at {reply.url} ({reason}): start `notifier demo` "
            "in this directory first"
        ) from None


def messages_of(twiml: str) -> list[str]:
    """The texts of a TwiML answer's <Message> elements (none: the answer was taken quietly)."""
    try:
        root = ElementTree.fromstring(twiml)  # our own daemon's answer
    except ElementTree.ParseError:
        return []
    return [element.text or "" for element in root.iter("Message")]


def report(answer: DaemonAnswer, reply: SignedReply) -> tuple[int, Sequence[str]]:
    """The exit status and the lines that tell the user what the daemon answered."""
    if answer.status == 200:
        messages = messages_of(answer.body)
        if messages:
            return 0, [f"daemon answered: {message}" for message in messages]
        return 0, [
            "daemon answered with no message: an answer it recorded is confirmed by SMS (see",
            "the demo's output) and counted by `notifier alert status ALERT_ID`; a number on",
            "no roster gets no answer",
        ]
    if answer.status == 403:
        return 1, [
            f"error: the daemon at {reply.url} refused the signature (403): is it the demo "
            "started in this directory, with the same configuration?"
        ]
    return 1, [f"error: the daemon answered {answer.status}: {answer.body.strip()}"]
