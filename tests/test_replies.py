"""Replies: safe, help or other in six languages, alert codes, and carrier keywords."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from notifier.domain import ALERT_CODE_ALPHABET, ALERT_CODE_LENGTH, ResponseKind
from notifier.replies import (
    CARRIER_WORDS,
    HELP_PHRASES,
    MAX_REPLY_CHARS,
    SAFE_PHRASES,
    CarrierKeyword,
    Reply,
    carrier_keyword,
    parse_reply,
    says_more,
)

SAFE, HELP, OTHER = ResponseKind.SAFE, ResponseKind.HELP, ResponseKind.OTHER
SEPARATORS = [" ", "  ", "\n", "\t", ".", "!", "?", ",", "-", "(", ")", "\u3000", "。", "،", "؟"]


@pytest.mark.parametrize(
    "text",
    ["1", " 1 ", "1.", "1!", "(1)", "1 K7Q2", "K7Q2 1", "１", "١", "۱", "1 - I'm fine", "1号"],
)
def test_a_standalone_one_is_safe(text: str) -> None:
    """A "1" between separators, in any digit form, means safe."""
    assert parse_reply(text).kind == SAFE


@pytest.mark.parametrize("text", ["2", " 2 ", "2.", "2!", "2 K7Q2", "K7Q2 2", "２", "٢", "۲"])
def test_a_standalone_two_is_help(text: str) -> None:
    """A "2" between separators, in any digit form, means help."""
    assert parse_reply(text).kind == HELP


@pytest.mark.parametrize(
    "text", ["12", "21", "+254722000111", "1st floor", "room 101", "22", "ok1", "2nd"]
)
def test_digits_inside_other_tokens_are_no_answer(text: str) -> None:
    """A digit that is part of a longer token is neither safe nor help."""
    assert parse_reply(text).kind == OTHER


@pytest.mark.parametrize(
    "text",
    [
        # English
        "safe", "SAFE", "Safe!", "ok", "OK.", "okay", "fine", "I am safe", "I'm safe",
        "I’m safe at home", "I am safe at home", "all good", "All good, thanks", "ＳＡＦＥ",
        # French
        "en sécurité", "EN SECURITE", "Je suis en sécurité, merci", "sain et sauf",
        "Saine et sauve", "ça va", "Ca va !", "je vais bien",
        # Spanish
        "a salvo", "Estoy a salvo", "Estoy bien gracias", "seguro", "Segura", "bien",
        # Arabic
        "آمن", "أنا آمن", "انا امن", "أنا آمنة", "بخير", "أنا بخير والحمد لله", "وبخير", "سالم",
        "أنا بأمان",
        # Chinese
        "安全", "我安全", "我很安全，谢谢", "平安", "没事", "我没事。", "我很好",
        # Russian
        "В безопасности", "я в безопасности", "безопасно", "В порядке", "Всё хорошо",
        "ВСЕ ХОРОШО", "нормально",
    ],
)  # fmt: skip
def test_safe_words_in_six_languages(text: str) -> None:
    """Safe words and phrases match across case, accents, punctuation and nearby words."""
    assert parse_reply(text).kind == SAFE


@pytest.mark.parametrize(
    "text",
    [
        # English
        "help", "HELP", "Help!", "sos", "need help", "help me", "EMERGENCY", "injured",
        "I am hurt", "unsafe",
        # French
        "aide", "À l'aide", "a l aide", "au secours", "besoin d'aide", "blessé", "Blessee",
        "ça va pas",
        # Spanish
        "ayuda", "Socorro", "necesito ayuda", "herido", "inseguro",
        # Arabic
        "مساعدة", "النجدة", "والنجدة", "ساعدوني", "أحتاج مساعدة", "احتاج مساعده",
        # Chinese
        "求助", "救命", "帮助", "我需要帮助", "救救我！",
        # Russian
        "ПОМОЩЬ", "помогите", "нужна помощь", "SOS", "небезопасно",
    ],
)  # fmt: skip
def test_help_words_in_six_languages(text: str) -> None:
    """Help words and phrases match across case, accents, punctuation and nearby words."""
    assert parse_reply(text).kind == HELP


@pytest.mark.parametrize(
    "text",
    [
        "not safe", "I am NOT safe", "not ok", "I'm not okay", "I don't feel safe",
        "never safe here", "pas en sécurité", "Je ne suis pas en sécurité",
        "je ne vais pas bien", "no estoy bien", "No estoy a salvo", "no me siento seguro",
        "не в безопасности", "я не в порядке", "Не всё хорошо", "不安全", "我不安全", "不太安全",
        "不，安全", "غير آمن", "لست آمن", "لست بخير", "وغير آمن",
    ],
)  # fmt: skip
def test_negated_safe_means_help(text: str) -> None:
    """A negated safe phrase is a call for help, never safe."""
    assert parse_reply(text).kind == HELP


@pytest.mark.parametrize(
    "text",
    [
        "1 but my colleague needs help", "1 2", "safe but injured", "ok, aide",
        "Estoy bien pero necesito ayuda", "安全 救命", "我安全，同事受伤了",
        "أنا آمن لكن أحتاج مساعدة", "В порядке, но коллеге нужна помощь",
        "I'm safe, no help needed", "No, I am safe",
    ],
)  # fmt: skip
def test_help_wins_over_safe(text: str) -> None:
    """When safe and help signals both appear, the reply is help."""
    assert parse_reply(text).kind == HELP


@pytest.mark.parametrize(
    "text",
    [
        "okra", "bookkeeping", "finest", "unsafely", "safety first", "Who is this?",
        "STOP", "yes", "info", "K7Q2", "call me", "我在家", "Бесплатно", "سلام",
    ],
)  # fmt: skip
def test_anything_else_is_other_with_its_text_kept(text: str) -> None:
    """Text with no answer in it is other, and the text is kept as written."""
    reply = parse_reply(text)
    assert (reply.kind, reply.text) == (OTHER, text)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("", ""),
        ("   \n\t ", ""),
        ("  hello   world \n", "hello world"),
        ("a\x00b\x7fc", "a b c"),
        ("x\ud800y", "x\ufffdy"),
        ("Ça  va,\r\nmerci", "Ça va, merci"),
    ],
)
def test_text_is_collapsed_and_cleaned(text: str, kept: str) -> None:
    """Whitespace collapses, controls become spaces, lone surrogates become U+FFFD."""
    assert parse_reply(text).text == kept


def test_empty_text_is_other() -> None:
    """An empty or blank reply is other with empty text."""
    assert parse_reply(" \n ") == Reply(kind=OTHER, codes=(), text="")


def test_long_text_is_cut() -> None:
    """Only the first MAX_REPLY_CHARS characters are kept and read."""
    reply = parse_reply("I am fine. " + "x" * 1_000_000 + " help")
    assert reply == Reply(kind=SAFE, codes=(), text=("I am fine. " + "x" * 2000)[:MAX_REPLY_CHARS])


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("1 k7q2", ("K7Q2",)),
        ("K7Q2 1", ("K7Q2",)),
        ("2 k7q2 K7Q2 ab34", ("K7Q2", "AB34")),
        ("K7Q2,M3NP: 1", ("K7Q2", "M3NP")),
        ("Ｋ７Ｑ２ 1", ("K7Q2",)),
        ("K7Q2安全", ("K7Q2",)),
        ("1 SAFE", ()),
        ("safe", ()),
        ("K7Q0 1", ()),
        ("K7Q22 1", ()),
        ("K7Q 1", ()),
        ("1 KIL2", ()),
        ("1 K7_Q2", ()),
    ],
)
def test_codes_are_code_shaped_tokens_in_order(text: str, codes: tuple[str, ...]) -> None:
    """Tokens shaped like a short code are upper-cased, deduplicated, kept in order."""
    assert parse_reply(text).codes == codes


def test_every_single_word_of_the_tables_is_read_as_such() -> None:
    """Each listed phrase, alone, gives its own kind (the tables are consistent)."""
    safe = {p for ps in SAFE_PHRASES.values() for p in ps}
    help_ = {p for ps in HELP_PHRASES.values() for p in ps}
    assert {p for p in safe if parse_reply(p).kind != SAFE} == set()
    assert {p for p in help_ if parse_reply(p).kind != HELP} == set()


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", CarrierKeyword.STOP),
        ("Stop.", CarrierKeyword.STOP),
        ("  stop  ", CarrierKeyword.STOP),
        ("STOPALL", CarrierKeyword.STOP),
        ("stop all", CarrierKeyword.STOP),
        ("Unsubscribe", CarrierKeyword.STOP),
        ("cancel", CarrierKeyword.STOP),
        ("END", CarrierKeyword.STOP),
        ("quit!", CarrierKeyword.STOP),
        ("opt-out", CarrierKeyword.STOP),
        ("OPTOUT", CarrierKeyword.STOP),
        ("revoke", CarrierKeyword.STOP),
        ("ARRÊT", CarrierKeyword.STOP),
        ("arret", CarrierKeyword.STOP),
        ("ARRÊTE", CarrierKeyword.STOP),
        ("Arrête !", CarrierKeyword.STOP),
        ("ARRETE", CarrierKeyword.STOP),
        ("arrett", CarrierKeyword.STOP),
        ("START", CarrierKeyword.START),
        ("unstop", CarrierKeyword.START),
        ("Yes!", CarrierKeyword.START),
        ("HELP", CarrierKeyword.HELP),
        ("info?", CarrierKeyword.HELP),
        ("Aide", CarrierKeyword.HELP),
        ("ＳＴＯＰ", CarrierKeyword.STOP),
        ("please stop sending", None),
        ("stop sending me this", None),
        ("help me", None),
        ("oui", None),
        ("stopp", None),
        ("1", None),
        ("", None),
    ],
)
def test_carrier_keyword_is_the_whole_message(text: str, keyword: CarrierKeyword | None) -> None:
    """A message is a carrier keyword only when it is nothing but that keyword."""
    assert carrier_keyword(text) == keyword


@pytest.mark.parametrize("text", ["HELP", "help.", "AIDE"])
def test_help_is_both_a_carrier_keyword_and_a_help_reply(text: str) -> None:
    """HELP is left to the caller: carrier HELP, and as a reply it means help."""
    assert (carrier_keyword(text), parse_reply(text).kind) == (CarrierKeyword.HELP, HELP)


# Twilio's default keywords: opt-out, opt-in and help as its Advanced Opt-Out tutorial
# (twilio.com/docs/messaging/tutorials/advanced-opt-out) and "Twilio support for opt-out
# keywords (SMS STOP filtering)" (help.twilio.com, article 223134027) list them; the French
# opt-out words as the opt-out keywords page of Twilio Proxy (twilio.com/docs/proxy/
# opt-out-keywords) lists them.
TWILIO_KEYWORDS = {
    CarrierKeyword.STOP: "STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT "
    "ARRET ARRETE ARRETT",
    CarrierKeyword.START: "START YES UNSTOP",
    CarrierKeyword.HELP: "HELP INFO",
}


@pytest.mark.parametrize(
    ("keyword", "word"),
    [(keyword, word) for keyword, words in TWILIO_KEYWORDS.items() for word in words.split()],
)
def test_every_twilio_keyword_is_recognised(keyword: CarrierKeyword, word: str) -> None:
    """Each word Twilio acts on by default is the same keyword here; none opts out as a reply."""
    assert carrier_keyword(word) == keyword
    assert carrier_keyword(word.lower()) == keyword
    if keyword is not CarrierKeyword.HELP:
        assert parse_reply(word).kind is OTHER  # neither safe nor help, were it read as a reply


def test_carrier_words_are_twilios_and_aide() -> None:
    """The table holds Twilio's words (accents aside) and French AIDE for HELP, nothing else."""
    listed = {keyword: {_plain(word) for word in words} for keyword, words in CARRIER_WORDS.items()}
    expected = {
        keyword: {word.lower() for word in words.split()}
        for keyword, words in TWILIO_KEYWORDS.items()
    }
    expected[CarrierKeyword.HELP].add("aide")
    assert listed == expected


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)


@given(st.text() | st.text(st.characters() | _SURROGATES))
def test_parse_reply_never_raises_and_stays_in_bounds(text: str) -> None:
    """Any text gives a kind, a cleaned text of bounded length, and well-formed codes."""
    reply = parse_reply(text)
    assert reply.kind in set(ResponseKind)
    assert len(reply.text) <= MAX_REPLY_CHARS
    assert reply.text == reply.text.strip()
    assert all(
        len(c) == ALERT_CODE_LENGTH and set(c) <= set(ALERT_CODE_ALPHABET) for c in reply.codes
    )
    assert len(set(reply.codes)) == len(reply.codes)


@given(st.text(st.characters() | _SURROGATES, max_size=3000))
def test_parsing_the_kept_text_gives_the_same_reply(text: str) -> None:
    """The kept text carries all that the reply was read from."""
    reply = parse_reply(text)
    assert parse_reply(reply.text) == reply


@given(
    st.lists(st.sampled_from(SEPARATORS), max_size=4).map("".join),
    st.lists(st.sampled_from(SEPARATORS), max_size=4).map("".join),
    st.sampled_from([("1", SAFE), ("2", HELP), ("١", SAFE), ("٢", HELP), ("２", HELP)]),
)
def test_digit_among_separators_is_an_answer(
    before: str, after: str, answer: tuple[str, ResponseKind]
) -> None:
    """A 1 or 2 surrounded by any whitespace and punctuation is safe or help."""
    digit, kind = answer
    assert parse_reply(before + digit + after).kind == kind


@given(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", max_size=6),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", max_size=6),
    st.sampled_from(["1", "2"]),
)
def test_digit_glued_to_a_word_is_no_answer(before: str, after: str, digit: str) -> None:
    """A 1 or 2 inside a longer word or number is other."""
    assume(before or after)
    assert parse_reply(before + digit + after).kind == OTHER


@pytest.mark.parametrize(
    "text",
    ["1", "2", " 2. ", "2 K7Q2", "help", "SOS!!", "I am safe", "ok", "1 - I'm fine", "安全",
     "我没事。", "我很安全，谢谢", "救命！", "不安全", "أنا بخير", "нужна помощь", "au secours"],
)  # fmt: skip
def test_a_bare_answer_says_nothing_more(text: str) -> None:
    """Digits, alert codes and the words of the safe and help phrases are the answer itself."""
    assert not says_more(text)


@pytest.mark.parametrize(
    "text",
    ["2 trapped in basement B2", "help, door jammed", "Working from home today", "2 我在地下室",
     "مصاب في الطابق الثالث", "блокирован в лифте", "aide, bloqué au 3e étage"],
)  # fmt: skip
def test_words_beyond_the_answer_say_more(text: str) -> None:
    """Anything else a person wrote is worth showing to an officer, whatever the answer."""
    assert says_more(text)
