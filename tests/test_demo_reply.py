"""`demo reply`: the request it makes passes Twilio's own signature check and field shapes."""

from __future__ import annotations

import shlex

import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from notifier.demo_reply import curl_command, signed_reply
from notifier.errors import InputError
from notifier.settings import Settings
from notifier.web.forms import Form
from notifier.web.twilio_form import incoming_message

SETTINGS = Settings().model_copy(
    update={"sms": Settings().sms.model_copy(update={"auth_token": SecretStr("demo-token")})}
)


def test_signed_reply_passes_twilio_request_validator() -> None:
    """The signature is the one Twilio's RequestValidator expects over the public URL."""
    reply = signed_reply(SETTINGS, "+254711756237", "2 fire on floor 3 & smoke")
    assert reply.url == "http://127.0.0.1:8080/webhooks/twilio/sms"
    validator = RequestValidator("demo-token")
    assert validator.validate(reply.url, dict(reply.form), reply.signature)
    assert not RequestValidator("other").validate(reply.url, dict(reply.form), reply.signature)
    message = incoming_message(Form(reply.form))
    assert (message.sender, message.body) == ("+254711756237", "2 fire on floor 3 & smoke")
    assert message.sid.startswith("SM") and len(message.sid) == 34


def test_curl_command_posts_the_same_signed_fields() -> None:
    """The curl alternative names the URL, the signature and each field URL-encoded."""
    reply = signed_reply(SETTINGS, "+254711756237", "1")
    words = shlex.split(curl_command(reply))
    assert words[:5] == ["curl", "-sS", reply.url, "-H", f"X-Twilio-Signature: {reply.signature}"]
    fields = [words[index + 1] for index, word in enumerate(words) if word == "--data-urlencode"]
    assert fields == [f"{name}={value}" for name, value in reply.form]


def test_a_phone_not_in_e164_is_refused() -> None:
    """A national number is refused with what is expected."""
    with pytest.raises(InputError, match=r"PHONE: expected a number in E\.164"):
        signed_reply(SETTINGS, "0711 756 237", "1")
