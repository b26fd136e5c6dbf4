"""What a call says, as TwiML (pure): the alert read twice in the person's language, and the
question "1 if you are safe, 2 if you need help" asked with `<Gather>`.

The voices are Amazon Polly's, which Twilio offers in every one of the six languages; each
`<Say>` names its voice and language. An answering machine gets the alert without the
question. The key pressed is posted to `GATHER_PATH`; a key other than 1 or 2, or none, has
the question asked once more, then the call ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from twilio.twiml.voice_response import Gather, VoiceResponse

from notifier.domain import Language
from notifier.messages import AlertContent, Templates, spoken_alert

VOICES: Mapping[Language, tuple[str, str]] = MappingProxyType(
    {
        Language.AR: ("Polly.Zeina", "arb"),
        Language.ZH: ("Polly.Zhiyu", "cmn-CN"),
        Language.EN: ("Polly.Joanna", "en-US"),
        Language.FR: ("Polly.Lea", "fr-FR"),
        Language.RU: ("Polly.Tatyana", "ru-RU"),
        Language.ES: ("Polly.Lucia", "es-ES"),
    }
)
"""Each language's voice and language code for `<Say>`."""
KEY_SECONDS = 8
"""How long a call waits for a key after the question."""


def call_script(
    templates: Templates,
    content: AlertContent,
    language: Language,
    *,
    key_url: str,
    machine: bool,
) -> str:
    """The TwiML of an answered call: the alert twice, then (for a person, not a machine) the
    question, whose key is posted to `key_url`."""
    words = templates.strings[language]
    text = spoken_alert(templates, content, language)
    response = VoiceResponse()
    _say(response, language, text)
    _say(response, language, words["voice.again"])
    _say(response, language, text)
    if not machine:
        for _ in range(2):  # asked again once when no key is pressed
            _say(_gather(response, key_url), language, words["voice.question"])
    _say(response, language, words["voice.goodbye"])
    response.hangup()
    return str(response)


def ask_again(templates: Templates, language: Language, *, key_url: str) -> str:
    """The TwiML after a key other than 1 or 2: the question once more, then goodbye."""
    words = templates.strings[language]
    response = VoiceResponse()
    _say(_gather(response, key_url), language, words["voice.question"])
    _say(response, language, words["voice.goodbye"])
    response.hangup()
    return str(response)


def said(templates: Templates, language: Language, key: str) -> str:
    """The TwiML that says one of the words (`answer.recorded_safe`, …), then hangs up."""
    words = templates.strings[language]
    response = VoiceResponse()
    _say(response, language, words[key])
    _say(response, language, words["voice.goodbye"])
    response.hangup()
    return str(response)


def hang_up() -> str:
    """The TwiML that ends a call at once (a call that has nothing to say any more)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def _gather(response: VoiceResponse, key_url: str) -> Gather:
    gather: Gather = response.gather(
        num_digits=1,
        action=key_url,
        method="POST",
        timeout=KEY_SECONDS,
        action_on_empty_result=False,
    )
    return gather


def _say(verb: VoiceResponse | Gather, language: Language, text: str) -> None:
    voice, code = VOICES[language]
    verb.say(text, voice=voice, language=code)
