"""Render an alert in a person's language: the SMS body, and the e-mail's subject, text and HTML.

The words come from one TOML file per language, shipped in the package (`notifier/templates/`,
also at `config/templates/` in the repository; `en.toml` documents the keys) or read from
`messages.templates_dir`, read and checked once by `load_templates`; rendering is pure.
Every field given by an officer is treated as untrusted: control characters never reach an
e-mail subject, and the HTML part escapes everything.
"""

from __future__ import annotations

import html
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import structlog

from notifier.domain import AlertKind, Language, Severity
from notifier.errors import ConfigError
from notifier.sms_length import is_gsm7, sms_length, whole_characters

log = structlog.get_logger(__name__)

DEFAULT_MAX_SEGMENTS = 4
"""The default of `sms.max_segments`: the most segments one alert SMS may cost."""

_MARKED_KINDS = (AlertKind.DRILL, AlertKind.TEST)
_NONE: frozenset[str] = frozenset()
TEMPLATE_PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        **{f"severity.{severity.value}": _NONE for severity in Severity},
        **{f"marker.{kind.value}": _NONE for kind in _MARKED_KINDS},
        **{f"note.{kind.value}": _NONE for kind in _MARKED_KINDS},
        "sms.heading": frozenset({"severity", "title"}),
        "sms.heading_marked": frozenset({"marker", "severity", "title"}),
        "sms.reply": _NONE,
        "sms.reply_with_code": frozenset({"code"}),
        "email.subject": frozenset({"severity", "title"}),
        "email.subject_marked": frozenset({"marker", "severity", "title"}),
        "email.reply": _NONE,
        "email.link": frozenset({"url"}),
        "email.footer": _NONE,
        **{
            f"answer.{key}": _NONE
            for key in (
                "recorded_safe",
                "recorded_help",
                "recorded_other",
                "no_alert",
                "info",
                "stopped",
                "started",
                "closed",
            )
        },
        **{
            f"page.{key}": _NONE
            for key in ("question", "safe", "help", "change", "closed", "expired", "invalid")
        },
        "escalation.subject": frozenset({"title"}),
        "escalation.summary": frozenset({"station", "help", "unanswered"}),
        "escalation.help_heading": _NONE,
        "escalation.other_heading": _NONE,
        "escalation.unanswered_heading": _NONE,
        "drill.title": _NONE,
        "drill.message": _NONE,
        "voice.question": _NONE,
        "voice.again": _NONE,
        "voice.goodbye": _NONE,
    }
)
"""Every template key, with the placeholders its text must use and the only ones it may."""
LATER_KEYS: frozenset[str] = frozenset({"voice.question", "voice.again", "voice.goodbye"})
"""Keys added after the first release: a folder of an organisation's own words written
before them may lack them, and then has the shipped words for them (logged once)."""

_BANNER_COLOURS: Mapping[Severity, str] = MappingProxyType(
    {
        Severity.EXTREME: "#8b0000",
        Severity.SEVERE: "#c62828",
        Severity.MODERATE: "#b45309",
        Severity.MINOR: "#1d4ed8",
    }
)
_EXERCISE_COLOUR = "#475569"
"""Drills and tests get a calm banner whatever their severity, so they are not mistaken."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE_AND_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_GSM_FRIENDLY: Mapping[int, int | str] = MappingProxyType(
    {
        **str.maketrans(
            "\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u00a0\u202f", "'''\"\"\"--  "
        ),
        ord("\u2026"): "...",
    }
)
"""Typographic characters with a GSM-7 equivalent; one of them alone would force UCS-2."""


@dataclass(frozen=True, slots=True)
class AlertContent:
    """What an officer wrote: `messages` maps language codes to their own text, if any."""

    code: str
    kind: AlertKind
    severity: Severity
    title: str
    message: str
    messages: Mapping[str, str] = field(default_factory=dict)


def alert_content(row: Any) -> AlertContent:
    """The words of an alert read from the database (its code, kind, severity, title,
    message and messages columns)."""
    return AlertContent(
        code=row.code,
        kind=AlertKind(row.kind),
        severity=Severity(row.severity),
        title=row.title,
        message=row.message,
        messages=dict(row.messages or {}),
    )


@dataclass(frozen=True, slots=True)
class Templates:
    """The checked template strings: language → key (`sms.reply`) → text."""

    strings: Mapping[Language, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One e-mail's subject (one line, always), plain-text part and HTML part."""

    subject: str
    text: str
    html: str


SHIPPED_TEMPLATES = Path(__file__).parent / "templates"
"""The templates installed with the package: the default wording."""


def templates_location(templates_dir: str) -> Path:
    """The folder of `messages.templates_dir`, or the shipped templates when it is empty."""
    return Path(templates_dir) if templates_dir else SHIPPED_TEMPLATES


def load_templates(directory: Path) -> Templates:
    """Read and check `<language>.toml` of the six languages; ConfigError names the first fault."""
    strings: dict[Language, Mapping[str, str]] = {}
    for language in Language:
        path = directory / f"{language.value}.toml"
        shipped = SHIPPED_TEMPLATES / path.name if directory != SHIPPED_TEMPLATES else None
        strings[language] = MappingProxyType(_read_language(path, shipped))
    return Templates(strings=MappingProxyType(strings))


def render_sms(
    templates: Templates,
    content: AlertContent,
    language: Language,
    *,
    show_code: bool,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
) -> str:
    """The SMS: heading (marker, severity, title), officer's text, reply line; cut to fit."""
    words = templates.strings[language]
    heading = _heading(words, content, "sms.heading")
    if show_code:
        reply = words["sms.reply_with_code"].format(code=_one_line(content.code))
    else:
        reply = words["sms.reply"]
    return _fit_sms(heading, _officer_text(content, language), reply, max_segments)


def spoken_alert(templates: Templates, content: AlertContent, language: Language) -> str:
    """What a call reads out: the heading (marker, severity, title), then the officer's text,
    on one line (a voice reads no layout)."""
    words = templates.strings[language]
    heading = _heading(words, content, "sms.heading")
    return _one_line(f"{heading}. {_officer_text(content, language)}")


def render_email(
    templates: Templates, content: AlertContent, language: Language, *, ack_url: str
) -> RenderedEmail:
    """The e-mail: subject with marker and severity, text part, and an escaped HTML part."""
    words = templates.strings[language]
    subject = _one_line(_heading(words, content, "email.subject"))
    note = words.get(f"note.{content.kind.value}", "")
    body = _officer_text(content, language)
    url = _one_line(ack_url)
    answer = words["email.reply"] + "\n" + words["email.link"].format(url=url)
    text = "\n\n".join(part for part in (subject, note, body, answer) if part)
    text += "\n\n-- \n" + words["email.footer"] + "\n"
    return RenderedEmail(
        subject=subject, text=text, html=_html(words, content, language, subject, body, url)
    )


def _heading(words: Mapping[str, str], content: AlertContent, key: str) -> str:
    severity = words[f"severity.{content.severity.value}"]
    title = _one_line(content.title)
    if content.kind is AlertKind.EMERGENCY:
        return words[key].format(severity=severity, title=title)
    marker = words[f"marker.{content.kind.value}"]
    return words[f"{key}_marked"].format(marker=marker, severity=severity, title=title)


def _officer_text(content: AlertContent, language: Language) -> str:
    """The officer's text in the person's language, else the alert's own message."""
    own = content.messages.get(language.value, "")
    return _block(own if own.strip() else content.message)


def _one_line(text: str) -> str:
    """Every control character and run of white space becomes one space: safe in a header."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _block(text: str) -> str:
    """Newlines kept (as LF), other control characters dropped, ends stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_BUT_NEWLINE_AND_TAB.sub("", text).strip()


def _fit_sms(heading: str, body: str, reply: str, max_segments: int) -> str:
    """Shorten the body, with an ellipsis, until the SMS fits; heading and reply always stay."""
    whole = _sms_text(heading, body, reply)
    if not body or sms_length(whole).segments <= max_segments:
        return whole

    def fits(kept: int) -> bool:
        text = _sms_text(heading, body[:kept].rstrip() + "…", reply)
        return sms_length(text).segments <= max_segments

    if not fits(0):
        return _sms_text(heading, "", reply)
    low, high = 0, len(body) - 1  # fits(low) holds; fits(len(body)) does not
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    low = whole_characters(body, low)  # never half a flag or of a family emoji
    word_end = max(body.rfind(" ", 0, low + 1), body.rfind("\n", 0, low + 1))
    if word_end > max(0, low - 20):
        low = word_end  # a shorter prefix still fits; end on a whole word when one is near
    return _sms_text(heading, body[:low].rstrip() + "…", reply)


def _sms_text(heading: str, body: str, reply: str) -> str:
    text = "\n".join(part for part in (heading, body, reply) if part)
    plain = text.translate(_GSM_FRIENDLY)
    return plain if is_gsm7(plain) else text


def _html(
    words: Mapping[str, str],
    content: AlertContent,
    language: Language,
    subject: str,
    body: str,
    url: str,
) -> str:
    direction = "rtl" if language is Language.AR else "ltr"
    exercise = content.kind is not AlertKind.EMERGENCY
    colour = _EXERCISE_COLOUR if exercise else _BANNER_COLOURS[content.severity]
    note = words.get(f"note.{content.kind.value}", "")
    link = f'<a href="{html.escape(url)}" dir="ltr" style="color:#1d4ed8">{html.escape(url)}</a>'
    paragraph = '<p style="margin:0 0 16px">{}</p>'
    parts = [
        '<p style="margin:0 0 16px;padding:10px 12px;border-radius:4px;'
        f'background:{colour};color:#ffffff;font-weight:bold">{html.escape(subject)}</p>',
    ]
    if note:
        parts.append(
            '<p style="margin:0 0 16px;padding:8px 12px;border:2px solid #475569;'
            f'font-weight:bold">{html.escape(note)}</p>'
        )
    if body:
        parts.append(paragraph.format(html.escape(body).replace("\n", "<br>\n")))
    parts.append(paragraph.format(f"<strong>{html.escape(words['email.reply'])}</strong>"))
    parts.append(paragraph.format(html.escape(words["email.link"]).format(url=link)))
    parts.append(
        '<p style="margin:24px 0 0;font-size:13px;color:#475569">'
        f"{html.escape(words['email.footer'])}</p>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{language.value}" dir="{direction}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(subject)}</title>\n</head>\n"
        '<body style="margin:0;padding:16px;background:#ffffff;color:#111111;'
        'font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5">\n'
        '<div style="max-width:600px;margin:0 auto">\n'
        + "\n".join(parts)
        + "\n</div>\n</body>\n</html>\n"
    )


def _read_language(path: Path, shipped: Path | None = None) -> dict[str, str]:
    """The checked words of one file; the `LATER_KEYS` it lacks come from `shipped`."""
    values = _read_toml(path)
    later = sorted(LATER_KEYS - values.keys())
    if later and shipped is not None:
        values |= {key: _read_toml(shipped)[key] for key in later}
        log.warning("templates_lack_later_keys", file=str(path), keys=later, taken_from="shipped")
    missing = sorted(TEMPLATE_PLACEHOLDERS.keys() - values.keys())
    if missing:
        raise _fault(path, f"missing key {missing[0]}")
    unknown = sorted(values.keys() - TEMPLATE_PLACEHOLDERS.keys())
    if unknown:
        raise _fault(path, f"unknown key {unknown[0]}")
    checked: dict[str, str] = {}
    for key in sorted(values):
        value = values[key]
        if not isinstance(value, str) or not value.strip():
            raise _fault(path, f"{key}: must be a non-empty string")
        _check_placeholders(path, key, value)
        checked[key] = value
    return checked


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for name, value in table.items():
        if isinstance(value, dict):
            pairs.extend(_flatten(value, f"{prefix}{name}."))
        else:
            pairs.append((f"{prefix}{name}", value))
    return pairs


def _check_placeholders(path: Path, key: str, text: str) -> None:
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as error:
        raise _fault(path, f"{key}: {error} (write {{{{ and }}}} for a brace)") from None
    used: set[str] = set()
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in TEMPLATE_PLACEHOLDERS[key]:
            raise _fault(path, f"{key}: unknown placeholder {{{name}}}")
        if spec or conversion:
            raise _fault(path, f"{key}: placeholder {{{name}}} takes no format or conversion")
        used.add(name)
    absent = sorted(TEMPLATE_PLACEHOLDERS[key] - used)
    if absent:
        raise _fault(path, f"{key}: missing placeholder {{{absent[0]}}}")


def _read_toml(path: Path) -> dict[str, object]:
    try:
        document = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise _fault(path, "no such file") from None
    except UnicodeDecodeError:
        raise _fault(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise _fault(path, f"not valid TOML: {error}") from None
    return dict(_flatten(document))


def _fault(path: Path, reason: str) -> ConfigError:
    return ConfigError(f"configuration error: messages.templates_dir: {path}: {reason}")
