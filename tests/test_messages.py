"""Alert messages: each language's words, SMS segment counting and fitting, safe e-mail, templates."""

from __future__ import annotations

import math
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from notifier.domain import AlertKind, Language, Severity
from notifier.errors import ConfigError
from notifier.messages import AlertContent, Templates, load_templates, render_email, render_sms
from notifier.sms_length import GSM7_BASIC, GSM7_EXTENSION, sms_length

TEMPLATES_DIR = Path(__file__).parent.parent / "config" / "templates"
ACK_URL = "https://ens.example.org/ack/tok3n?a=1&b=2"


@pytest.fixture(scope="module")
def templates() -> Templates:
    """The repository's own templates, checked by the loader."""
    return load_templates(TEMPLATES_DIR)


def _content(
    kind: AlertKind = AlertKind.EMERGENCY,
    *,
    title: str = "Fire in block B",
    message: str = "Leave by the east stairs.",
    messages: Mapping[str, str] | None = None,
) -> AlertContent:
    return AlertContent(
        code="K7Q2",
        kind=kind,
        severity=Severity.SEVERE,
        title=title,
        message=message,
        messages=messages or {},
    )


@pytest.mark.parametrize(
    ("language", "marker", "reply"),
    [
        (Language.AR, "تمرين", "أرسل 1 إذا كنت بأمان، أو 2 إذا كنت بحاجة إلى مساعدة."),
        (Language.ZH, "演习", "安全请回复1，需要帮助请回复2。"),
        (Language.EN, "DRILL", "Reply 1 if safe, 2 if you need help."),
        (Language.FR, "EXERCICE", "Répondez 1 si vous êtes en sécurité"),
        (Language.RU, "УЧЕНИЯ", "Ответьте 1, если вы в безопасности, 2, если нужна помощь."),
        (Language.ES, "SIMULACRO", "Responda 1 si está a salvo, 2 si necesita ayuda."),
    ],
)
def test_each_language_has_its_own_marker_and_reply(
    templates: Templates, language: Language, marker: str, reply: str
) -> None:
    """A drill SMS opens with the marker in the person's language and ends with its reply line."""
    sms = render_sms(templates, _content(AlertKind.DRILL), language, show_code=False)
    assert sms.removeprefix("【").startswith(marker)
    assert reply in sms.splitlines()[-1]
    assert "Fire in block B" in sms


def test_severity_words_are_translated(templates: Templates) -> None:
    """The severity is written in the person's language."""
    words = {
        language: render_sms(templates, _content(), language, show_code=False).splitlines()[0]
        for language in Language
    }
    assert words[Language.EN].startswith("SEVERE")
    assert words[Language.FR].startswith("GRAVE")
    assert words[Language.RU].startswith("ОПАСНО")
    assert words[Language.ZH].startswith("【严重】")
    assert words[Language.AR].startswith("خطر شديد")


@pytest.mark.parametrize(
    ("kind", "expected", "absent"),
    [
        (AlertKind.DRILL, "DRILL", "TEST"),
        (AlertKind.TEST, "TEST", "DRILL"),
        (AlertKind.EMERGENCY, None, "DRILL"),
    ],
)
def test_marker_only_for_drills_and_tests(
    templates: Templates, kind: AlertKind, expected: str | None, absent: str
) -> None:
    """DRILL and TEST mark the SMS and the e-mail subject of drills and tests, never emergencies."""
    sms = render_sms(templates, _content(kind), Language.EN, show_code=False)
    email = render_email(templates, _content(kind), Language.EN, ack_url=ACK_URL)
    for text in (sms, email.subject):
        assert absent not in text
        if expected is None:
            assert "TEST" not in text
        else:
            assert expected in text
    spanish = render_sms(templates, _content(kind), Language.ES, show_code=False)
    assert ("PRUEBA" in spanish) is (kind is AlertKind.TEST)


def test_drill_email_says_no_action_is_needed(templates: Templates) -> None:
    """A drill e-mail carries the 'this is a drill' sentence; an emergency e-mail does not."""
    drill = render_email(templates, _content(AlertKind.DRILL), Language.FR, ack_url=ACK_URL)
    emergency = render_email(templates, _content(), Language.FR, ack_url=ACK_URL)
    assert "Ceci est un exercice." in drill.text
    assert "Ceci est un exercice." in drill.html
    assert "exercice" not in emergency.text


def test_officer_text_falls_back_to_the_message(templates: Templates) -> None:
    """The officer's text in the person's language wins; otherwise the alert's message is used."""
    content = _content(messages={"fr": "Sortez par l'escalier est.", "ru": "  "})
    assert "Sortez par l'escalier est." in render_sms(
        templates, content, Language.FR, show_code=False
    )
    for language in (Language.EN, Language.RU, Language.ZH):
        sms = render_sms(templates, content, language, show_code=False)
        assert "Leave by the east stairs." in sms
        assert "Sortez" not in sms


def test_show_code_puts_the_code_in_the_reply_line(templates: Templates) -> None:
    """With show_code the reply line names the alert's short code for both answers."""
    with_code = render_sms(templates, _content(), Language.EN, show_code=True)
    without = render_sms(templates, _content(), Language.EN, show_code=False)
    assert with_code.splitlines()[-1] == "Reply 1 K7Q2 if safe, 2 K7Q2 if you need help."
    assert "K7Q2" not in without
    assert "2 K7Q2" in render_sms(templates, _content(), Language.ZH, show_code=True)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("é" * 160, "GSM-7", 160, 1),
        ("€", "GSM-7", 2, 1),
        ("a" * 158 + "€", "GSM-7", 160, 1),
        ("a" * 159 + "€", "GSM-7", 161, 2),
        ("{}[]~|^\\\f", "GSM-7", 18, 1),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
        ("Hello Ж", "UCS-2", 7, 1),
        ("Hello مرحبا", "UCS-2", 11, 1),
        ("Hello 你", "UCS-2", 7, 1),
        ("ça", "UCS-2", 2, 1),
        ("a" * 159 + "ж", "UCS-2", 160, 3),
        ("ж" * 70, "UCS-2", 70, 1),
        ("ж" * 71, "UCS-2", 71, 2),
        ("ж" * 201, "UCS-2", 201, 3),
        ("ж" * 202, "UCS-2", 202, 4),
        ("😀", "UCS-2", 2, 1),
        ("a😀", "UCS-2", 3, 1),
        ("ж" * 66 + "😀" + "ж" * 66, "UCS-2", 134, 3),
    ],
)
def test_sms_length_table(text: str, encoding: str, units: int, segments: int) -> None:
    """Encoding, units and segments follow GSM 03.38 and UCS-2; pairs never straddle segments."""
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
"""👨‍👩‍👧‍👦: four people joined by zero-width joiners, 7 code points, 11 UTF-16 units."""
KENYA = "\U0001f1f0\U0001f1ea"
"""🇰🇪: two regional indicators, 4 UTF-16 units."""
E_ACUTE = "e\u0301"
"""é as "e" and a combining acute accent: 2 units."""


# Twilio's segment calculator (github.com/TwilioDevEd/message-segment-calculator,
# src/libs/SegmentedMessage.ts) splits the text with grapheme-splitter into extended
# grapheme clusters, CR LF into CR and LF, and when a cluster's units do not fit in what is
# left of a segment it opens the next one: a cluster is never split. Its own tests count
# "🏳️‍🌈" and 64 digits as 1 segment, "🇮🇹" and 67 digits as 2.
@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("\U0001f3f3\ufe0f\u200d\U0001f308" + "2" * 64, 70, 1),
        (KENYA + "2" * 66, 70, 1),
        (KENYA + "2" * 67, 71, 2),
        # 64 units, then the family: 3 units left, so all 11 go to the second segment.
        ("ж" * 64 + FAMILY + "ж" * 56, 131, 2),
        ("ж" * 64 + FAMILY + "ж" * 59, 134, 3),
        # 65 units, then the flag: its second indicator would straddle unit 67.
        ("ж" * 65 + KENYA + "ж" * 62, 131, 2),
        ("ж" * 65 + KENYA + "ж" * 65, 134, 3),
        # 66 units, then e + accent: the accent would be alone in the next segment.
        ("ж" * 66 + E_ACUTE + "ж" * 65, 133, 2),
        ("ж" * 66 + E_ACUTE + "ж" * 66, 134, 3),
        (FAMILY * 12 + "ж" * 3, 135, 3),
        # CR LF is one cluster but two characters, so it may straddle (GSM-7 and UCS-2).
        ("a" * 152 + "\r\n" + "a" * 152, 306, 2),
        ("ж" * 66 + "\r\n" + "ж" * 66, 134, 2),
        # A cluster longer than a segment cannot be kept whole: it is split where it must be.
        ("e" + "\u0301" * 200, 201, 3),
    ],
)
def test_sms_segments_keep_each_character_whole(text: str, units: int, segments: int) -> None:
    """A character of several code points (family, flag, accent) is never split across two."""
    length = sms_length(text)
    assert (length.units, length.segments) == (units, segments)


_GSM_ALPHABET = sorted(GSM7_BASIC | GSM7_EXTENSION)


@given(st.text(max_size=800) | st.text(alphabet=_GSM_ALPHABET, max_size=800))
def test_sms_length_matches_a_straightforward_recount(text: str) -> None:
    """For any text, sms_length never raises, units match a recount, segments are in bounds."""
    length = sms_length(text)
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        recount = ("GSM-7", sum(2 if char in GSM7_EXTENSION else 1 for char in text))
        single, per_segment = 160, 153
    else:
        recount = ("UCS-2", len(text.encode("utf-16-le", "surrogatepass")) // 2)
        single, per_segment = 70, 67
    assert (length.encoding, length.units) == recount
    assert length.segments >= 1
    if length.units <= single:
        assert length.segments == 1
    else:
        # Each segment but the last is full but for what keeps a character whole: less than
        # the largest character (grapheme cluster) that fits in a segment.
        if recount[0] == "GSM-7":
            widest = 2 if any(char in GSM7_EXTENSION for char in text) else 1
        else:
            clusters = regex.findall(r"\X", text)
            widest = max(len(c.encode("utf-16-le", "surrogatepass")) // 2 for c in clusters)
        least_filled = per_segment - (widest - 1 if widest <= per_segment else 1)
        assert math.ceil(length.units / per_segment) <= length.segments
        assert (length.segments - 1) * least_filled < length.units


def test_typographic_quotes_do_not_force_ucs2(templates: Templates) -> None:
    """Curly quotes and dashes in an otherwise GSM-7 SMS are sent as their GSM-7 equivalents."""
    content = _content(message="Don’t use the lifts – use the “east” stairs.")
    sms = render_sms(templates, content, Language.EN, show_code=False)
    assert 'Don\'t use the lifts - use the "east" stairs.' in sms
    assert sms_length(sms).encoding == "GSM-7"


@pytest.mark.parametrize(
    ("language", "filler", "ellipsis", "max_segments"),
    [(Language.EN, "Walk calmly ", "...", 2), (Language.RU, "Спокойно идите ", "…", 3)],
)
def test_long_text_is_cut_to_fit_keeping_heading_and_reply(
    templates: Templates, language: Language, filler: str, ellipsis: str, max_segments: int
) -> None:
    """Over max_segments the officer's text is cut with an ellipsis; heading and reply stay."""
    content = _content(AlertKind.DRILL, message=filler * 100)
    sms = render_sms(templates, content, language, show_code=True, max_segments=max_segments)
    full = render_sms(templates, content, language, show_code=True, max_segments=100)
    lines = sms.splitlines()
    assert sms_length(sms).segments <= max_segments < sms_length(full).segments
    assert lines[0] == full.splitlines()[0]
    assert lines[-1] == full.splitlines()[-1]
    assert "K7Q2" in lines[-1]
    assert lines[1].endswith(ellipsis)
    assert filler.strip() in lines[1]
    longer = render_sms(templates, content, language, show_code=True, max_segments=max_segments + 1)
    assert len(longer) > len(sms)


@pytest.mark.parametrize("character", ["🇰🇪", "👨‍👩‍👧‍👦", "e\u0301"])
@pytest.mark.parametrize("max_segments", [2, 3, 4])
def test_text_is_cut_between_whole_characters(
    templates: Templates, character: str, max_segments: int
) -> None:
    """A cut officer's text never ends in half a flag, a family emoji or an accented letter."""
    content = _content(message=character * 300)
    sms = render_sms(templates, content, Language.EN, show_code=False, max_segments=max_segments)
    kept = sms.splitlines()[1].removesuffix("…")
    assert kept and kept == character * (len(kept) // len(character))
    assert sms_length(sms).segments <= max_segments


def test_text_is_dropped_when_heading_and_reply_alone_overflow(templates: Templates) -> None:
    """When even the heading and reply exceed the limit, both are still sent, without the text."""
    content = _content(title="Evacuate " * 30)
    sms = render_sms(templates, content, Language.EN, show_code=False, max_segments=1)
    assert sms.splitlines() == [
        f"SEVERE: {'Evacuate ' * 29}Evacuate",
        "Reply 1 if safe, 2 if you need help.",
    ]


@pytest.mark.parametrize("language", list(Language))
def test_email_subject_never_carries_a_line_break(templates: Templates, language: Language) -> None:
    """A title with CR, LF or other line breaks cannot inject a header through the subject."""
    content = _content(title="Fire\r\nBcc: victim@example.org\u2028\x85\x00next")
    subject = render_email(templates, content, language, ack_url=ACK_URL + "\r\nX: y").subject
    assert not any(char in subject for char in "\r\n\u2028\x85\x00")
    assert "Fire Bcc: victim@example.org next" in subject


def test_email_text_has_the_officer_text_reply_and_link(templates: Templates) -> None:
    """The plain-text part carries the officer's text, the reply instructions and the ack link."""
    email = render_email(
        templates, _content(message="Line one\r\nLine two"), Language.EN, ack_url=ACK_URL
    )
    assert "Line one\nLine two" in email.text
    assert "Reply to this e-mail with 1 if you are safe or 2 if you need help." in email.text
    assert f"Or answer here: {ACK_URL}" in email.text
    assert "\r" not in email.text


def test_email_html_escapes_every_field(templates: Templates) -> None:
    """The HTML part escapes the title, the officer's text and the link."""
    content = _content(title="<b>Fire</b>", message="<script>alert(1)</script>")
    page = render_email(templates, content, Language.EN, ack_url=ACK_URL).html
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Fire&lt;/b&gt;" in page
    assert '<a href="https://ens.example.org/ack/tok3n?a=1&amp;b=2"' in page
    assert '<html lang="en" dir="ltr">' in page


def test_email_html_is_right_to_left_for_arabic(templates: Templates) -> None:
    """Arabic HTML sets lang="ar" and dir="rtl"; the link stays left to right."""
    page = render_email(templates, _content(), Language.AR, ack_url=ACK_URL).html
    assert '<html lang="ar" dir="rtl">' in page
    assert 'dir="ltr"' in page
    assert "رد على هذه الرسالة" in page


def _flat_keys(table: Mapping[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in table.items():
        if isinstance(value, dict):
            keys |= _flat_keys(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_all_template_files_have_the_same_keys() -> None:
    """The six language files exist and define exactly the same keys."""
    key_sets = {
        language: _flat_keys(tomllib.loads((TEMPLATES_DIR / f"{language}.toml").read_text("utf-8")))
        for language in Language
    }
    english = key_sets[Language.EN]
    assert english
    for language, keys in key_sets.items():
        assert keys == english, language


@pytest.mark.parametrize(
    ("file", "old", "new", "reason"),
    [
        ("fr.toml", None, None, "no such file"),
        ("fr.toml", 'reply = "Répondez 1 si', 'replay = "Répondez 1 si', "missing key sms.reply"),
        ("ru.toml", "[email]", '[extra]\nword = "x"\n\n[email]', "unknown key extra.word"),
        (
            "es.toml",
            "{code} si necesita",
            "{codigo} si necesita",
            "sms.reply_with_code: unknown placeholder {codigo}",
        ),
        ("zh.toml", "或在此处回复：{url}", "或在此处回复", "email.link: missing placeholder {url}"),
        (
            "en.toml",
            '"{severity}: {title}"',
            '"{severity}: {title!r}"',
            "sms.heading: placeholder {title} takes no format or conversion",
        ),
        ("ar.toml", 'drill = "تمرين"', "drill = 3", "marker.drill: must be a non-empty string"),
        ("en.toml", 'drill = "DRILL"', 'drill = "DRILL', "not valid TOML"),
    ],
)
def test_load_templates_names_the_file_and_key(
    tmp_path: Path, file: str, old: str | None, new: str | None, reason: str
) -> None:
    """A missing file, missing or unknown key, or bad placeholder stops loading with one line."""
    directory = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, directory)
    path = directory / file
    if old is None or new is None:
        path.unlink()
    else:
        text = path.read_text("utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_templates(directory)
    message = str(raised.value)
    assert message.startswith(f"configuration error: messages.templates_dir: {path}: {reason}")
    assert "\n" not in message
