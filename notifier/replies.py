"""What the text of a reply to an alert means: safe, needs help, or something else."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from notifier.domain import ALERT_CODE_ALPHABET, ALERT_CODE_LENGTH, Language, ResponseKind

MAX_REPLY_CHARS = 1600
"""The longest reply text kept and read (ten SMS segments); the rest is ignored."""
_MAX_RAW_CHARS = 16 * MAX_REPLY_CHARS
"""How much raw input is looked at, so a megabyte costs no more than a long message."""

_K = TypeVar("_K", bound=StrEnum)


def _table(phrases: Mapping[_K, str]) -> Mapping[_K, tuple[str, ...]]:
    """An immutable table from "|"-separated phrases, which keeps each language on one line."""
    return MappingProxyType({key: tuple(line.split("|")) for key, line in phrases.items()})


SAFE_PHRASES = _table(
    {
        Language.EN: "safe|ok|okay|fine|i am safe|i'm safe|im safe|all good",
        Language.FR: "en sécurité|sain et sauf|saine et sauve|ça va|je vais bien",
        Language.ES: "a salvo|estoy bien|seguro|segura|bien",
        Language.AR: "آمن|آمنة|آمنا|أنا آمن|بأمان|بخير|سالم|سالمة",
        Language.ZH: "安全|我安全|平安|没事|我很好",
        Language.RU: "в безопасности|безопасно|в порядке|всё хорошо|нормально",
    }
)
"""Words and phrases that mean "I am safe", per language (Chinese matched inside words)."""

HELP_PHRASES = _table(
    {
        Language.EN: "help|sos|need help|help me|emergency|injured|hurt|unsafe|danger|trapped",
        Language.FR: "aide|à l'aide|au secours|besoin d'aide|blessé|blessée|secours|danger"
        "|ça va pas|ça ne va pas",
        Language.ES: "ayuda|socorro|necesito ayuda|herido|herida|auxilio|peligro|inseguro|insegura",
        Language.AR: "مساعدة|المساعدة|النجدة|نجدة|ساعدوني|ساعدني|أحتاج مساعدة|أنقذوني"
        "|مصاب|مصابة|خطر",
        Language.ZH: "求助|救命|帮助|需要帮助|救救我|帮帮我|受伤|危险",
        Language.RU: "помощь|помогите|помоги|нужна помощь|sos|спасите|ранен|ранена|в опасности"
        "|небезопасно",
    }
)
"""Words and phrases that mean "I need help", per language (Chinese matched inside words).

Arabic words are also found behind an attached "and" (wa-, fa-); forms with the article
(al-) that people write are listed as they are.
"""

NEGATIONS = _table(
    {
        Language.EN: "not|no|never|dont|cant|isnt|arent|t",  # "t" is what is left of "don't"
        Language.FR: "pas|jamais",
        Language.ES: "no|nunca|ni",
        Language.AR: "غير|لست|لسنا|ليس|ليست|مش|مو",
        Language.ZH: "不|没有|没|未|非",
        Language.RU: "не|ни",
    }
)
"""Words that turn a safe phrase at most two words later (Chinese: adjacent) into help."""


class CarrierKeyword(StrEnum):
    """A keyword that SMS carriers act on by themselves: opt out, opt back in, ask for help."""

    STOP = "stop"
    START = "start"
    HELP = "help"


CARRIER_WORDS = _table(
    {
        CarrierKeyword.STOP: "stop|stopall|unsubscribe|cancel|end|quit|revoke|optout"
        "|arrêt|arrête|arrett",
        CarrierKeyword.START: "start|yes|unstop",
        CarrierKeyword.HELP: "help|info|aide",
    }
)
"""The words Twilio acts on by itself when they are the whole message, and French AIDE.

Twilio's defaults, as its documentation lists them:
- opt-out STOP, UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT, CANCEL ("Customize users'
  opt-in and opt-out experience with Advanced Opt-Out",
  https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out), and for French
  speakers ARRET, ARRETE, ARRETT ("Opt-out keywords" of Twilio Proxy,
  https://www.twilio.com/docs/proxy/opt-out-keywords);
- opt-in START, YES, UNSTOP; help HELP, INFO ("Twilio support for opt-out keywords (SMS
  STOP filtering)", https://help.twilio.com/hc/en-us/articles/223134027).
Twilio blocks a number that sends an opt-out word and still passes the message on, so the
number is recorded as opted out here too. AIDE is ours, not Twilio's: French for HELP,
answered with the service's information when no alert is open; while one is, HELP and
AIDE are read as a reply and record "needs help".
"""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a reply means, the alert codes it names, and its text as kept for history."""

    kind: ResponseKind
    codes: tuple[str, ...]
    text: str


_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)
_ARABIC_LETTERS = str.maketrans({"ة": "ه", "ى": "ي", "ی": "ي", "ـ": None})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UNSPACED = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_TOKEN = re.compile(rf"[^\W_{_UNSPACED}]+")
"""A word of a spaced script: a Chinese (or Japanese) character ends it like a space."""
_WORD = re.compile(r"[^\W_]+")
_CHINESE = re.compile(rf"[{_UNSPACED}]+")
_CHINESE_FILLERS = "我你他她们很都也是了的啊吧呢吗谢"
"""Characters that say nothing beyond a Chinese answer ("我很好", "谢谢")."""
_ARABIC_CONJUNCTIONS = ("و", "ف")


def _clean(text: str) -> str:
    """The text as kept: surrogates replaced, controls blanked, whitespace collapsed, cut."""
    raw = _SURROGATE.sub("\ufffd", text[:_MAX_RAW_CHARS])
    return " ".join(_CONTROL.sub(" ", raw).split())[:MAX_REPLY_CHARS].rstrip()


def _folded(text: str) -> str:
    """Compatibility forms (full-width) and Arabic digits unified, case folded."""
    return unicodedata.normalize("NFKC", text).translate(_ARABIC_DIGITS).casefold()


def _plain(folded: str) -> str:
    """Accents, Arabic vowel marks and invisible characters dropped; Arabic letters unified."""
    decomposed = unicodedata.normalize("NFD", folded)
    kept = (c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf"))
    return "".join(kept).translate(_ARABIC_LETTERS)


def _key(phrase: str, words: re.Pattern[str] = _TOKEN, joiner: str = " ") -> str:
    """A table phrase as it is matched: plain words joined by single spaces (Chinese: none)."""
    return joiner.join(words.findall(_plain(_folded(phrase))))


def _phrases(table: Mapping[Language, tuple[str, ...]], chinese: bool) -> frozenset[str]:
    """The matching keys of a table's Chinese phrases, or of all its other phrases."""
    chosen = (p for lang, ps in table.items() if (lang == Language.ZH) == chinese for p in ps)
    return frozenset(_key(p, _WORD, "") if chinese else _key(p) for p in chosen)


def _either(phrases: Iterable[str]) -> str:
    """A regular expression alternative of the phrases, longest first."""
    return "|".join(re.escape(p) for p in sorted(phrases, key=lambda p: (-len(p), p)))


_SAFE_WORDS = _either(_phrases(SAFE_PHRASES, chinese=False))
_SAFE_ZH = _either(_phrases(SAFE_PHRASES, chinese=True))
_SAFE = re.compile(rf"(?<!\S)(?:{_SAFE_WORDS})(?!\S)")
_HELP = re.compile(rf"(?<!\S)(?:{_either(_phrases(HELP_PHRASES, chinese=False))})(?!\S)")
_NEGATION_WORDS = _either(_phrases(NEGATIONS, chinese=False))
_NOT_SAFE = re.compile(rf"(?<!\S)(?:{_NEGATION_WORDS})(?: \S+){{0,2}} (?:{_SAFE_WORDS})(?!\S)")
_SAFE_UNSPACED = re.compile(_SAFE_ZH)
_HELP_UNSPACED = re.compile(_either(_phrases(HELP_PHRASES, chinese=True)))
_NOT_SAFE_UNSPACED = re.compile(
    rf"(?:{_either(_phrases(NEGATIONS, chinese=True))})[太很够是大]{{0,2}}(?:{_SAFE_ZH})"
)
_REPLY_WORDS = frozenset(
    word
    for table in (SAFE_PHRASES, HELP_PHRASES, NEGATIONS)
    for phrases in table.values()
    for phrase in phrases
    for word in _key(phrase).split()
)
"""Every single word of the tables: never an alert code, and the words Arabic prefixes hide."""
_CARRIER: Mapping[str, CarrierKeyword] = MappingProxyType(
    {_key(word): keyword for keyword, words in CARRIER_WORDS.items() for word in words}
)


def _unprefixed(token: str) -> str:
    """An Arabic word without an attached "and" (wa-, fa-) when that uncovers a known word."""
    if token not in _REPLY_WORDS and token.startswith(_ARABIC_CONJUNCTIONS):
        return token[1:] if token[1:] in _REPLY_WORDS else token
    return token


def _kind(plain: str) -> ResponseKind:
    """Help if any help signal appears, else safe if any safe signal appears, else other."""
    tokens = [_unprefixed(t) for t in _TOKEN.findall(plain)]
    spaced = " ".join(tokens)
    unspaced = "".join(_WORD.findall(plain))
    if "2" in tokens or any(
        pattern.search(found)
        for pattern, found in (
            (_HELP, spaced),
            (_NOT_SAFE, spaced),
            (_HELP_UNSPACED, unspaced),
            (_NOT_SAFE_UNSPACED, unspaced),
        )
    ):
        return ResponseKind.HELP
    if "1" in tokens or _SAFE.search(spaced) or _SAFE_UNSPACED.search(unspaced):
        return ResponseKind.SAFE
    return ResponseKind.OTHER


def _is_code(token: str) -> bool:
    """Whether a folded token is shaped like an alert short code and is no reply word."""
    return (
        len(token) == ALERT_CODE_LENGTH
        and all(c in ALERT_CODE_ALPHABET for c in token.upper())
        and token not in _REPLY_WORDS
    )


def parse_reply(text: str) -> Reply:
    """What a reply means; never raises, and reads at most MAX_REPLY_CHARS characters.

    A standalone "1" or a safe phrase means safe; a standalone "2", a help phrase or a
    negated safe phrase ("not safe", "no estoy bien", "不安全") means help. When both
    appear, help wins: a false "needs help" is chased by a person, a false "safe" could
    cost a life. So "1 but my colleague needs help" and "safe, no help needed" are help.
    Latin, Cyrillic and Arabic phrases match whole words ("okra" is not "ok"); Chinese
    phrases match inside text, which has no spaces. Digits next to Chinese characters
    count as standalone. Anything else is other; the cleaned text is kept for every kind.
    """
    kept = _clean(text)
    folded = _folded(kept)
    codes = (t.upper() for t in _TOKEN.findall(folded) if _is_code(t))
    return Reply(kind=_kind(_plain(folded)), codes=tuple(dict.fromkeys(codes)), text=kept)


def says_more(text: str) -> bool:
    """Whether a reply's text says more than its answer: a word other than "1", "2", an alert
    code or a word of the safe and help phrases ("trapped in B2" after "2", not "2" alone);
    in Chinese, a character outside those phrases and a few fillers ("我在地下室", not "我没事")."""
    plain = _plain(_folded(text[:_MAX_RAW_CHARS]))
    answer_words = _REPLY_WORDS | {"1", "2"}
    if any(
        t not in answer_words and not _is_code(t) for t in map(_unprefixed, _TOKEN.findall(plain))
    ):
        return True
    chinese = "".join(c for c in "".join(_CHINESE.findall(plain)) if c.isalnum())
    for phrases in (_NOT_SAFE_UNSPACED, _HELP_UNSPACED, _SAFE_UNSPACED):
        chinese = phrases.sub("", chinese)
    return bool(chinese.strip(_CHINESE_FILLERS))


def carrier_keyword(text: str) -> CarrierKeyword | None:
    """The carrier keyword the whole message is, if any.

    Case, accents, surrounding whitespace and punctuation are tolerated, and so are
    separators inside the keyword ("OPT-OUT", "STOP ALL"); any other word makes it none.
    """
    word = "".join(_WORD.findall(_plain(_folded(_clean(text)))))
    return _CARRIER.get(word)
