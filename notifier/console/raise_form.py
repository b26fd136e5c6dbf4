"""The console's raise form: its fields as the body of POST /api/v1/alerts, and back (pure).

The form posts `stations` and `channels` once per box ticked, `groups` and `people` as text
(names separated by commas, semicolons or spaces), `severity`, `kind`, `title`, `message`,
and `text_<language>` for each optional text per language. `payload` maps them to the JSON
object the API parses, so that `parse_alert_request` checks both alike. A textarea posts its
line breaks as CR LF: they are kept as LF, as the API's clients send them.

The preview page's form also carries `submission`, a random value made for that page: the
alert it raises keeps it, so the same form sent twice raises one alert.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from notifier.domain import AlertKind, Channel, Language, Severity
from notifier.errors import FieldError
from notifier.translatable import N_
from notifier.web.forms import Form

TEXT_PREFIX = "text_"
"""The prefix of each language's optional text field: `text_fr`."""
CONFIRM_EMERGENCY = "confirm_emergency"
"""The box that confirms a real emergency, on the preview page."""
CONFIRMED = "yes"
"""The value of that box, ticked."""
SUBMISSION = "submission"
"""The preview page's one-time value, kept by the alert it raises."""
_SUBMISSION_BYTES = 16
_SUBMISSION_SHAPE = re.compile(r"[0-9a-f]{32}")
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True, slots=True)
class RaiseForm:
    """The raise form's values, as posted (or those of a blank form)."""

    stations: tuple[str, ...] = ()
    groups: str = ""
    people: str = ""
    severity: str = Severity.SEVERE.value
    kind: str = AlertKind.EMERGENCY.value
    channels: tuple[str, ...] = (Channel.SMS.value, Channel.EMAIL.value)
    title: str = ""
    message: str = ""
    texts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def posted(cls, form: Form) -> RaiseForm:
        """The values of a posted form; texts per language only where some text was given."""
        texts = {
            language.value: _lines(form.first(TEXT_PREFIX + language.value))
            for language in Language
        }
        return cls(
            stations=tuple(form.values("stations")),
            groups=form.first("groups"),
            people=form.first("people"),
            severity=form.first("severity"),
            kind=form.first("kind"),
            channels=tuple(form.values("channels")),
            title=form.first("title"),
            message=_lines(form.first("message")),
            texts=MappingProxyType({code: text for code, text in texts.items() if text.strip()}),
        )

    def payload(self) -> dict[str, object]:
        """The values as the JSON object of POST /api/v1/alerts."""
        body: dict[str, object] = {
            "title": self.title,
            "message": self.message,
            "severity": self.severity,
            "kind": self.kind,
            "stations": list(self.stations),
            "groups": names(self.groups),
            "people": names(self.people),
            "channels": list(self.channels),
        }
        if self.texts:
            body["messages"] = dict(self.texts)
        return body

    def fields(self) -> list[tuple[str, str]]:
        """The values as (name, value) pairs, to be posted again from the preview page."""
        pairs = [("stations", code) for code in self.stations]
        pairs += [("groups", self.groups), ("people", self.people)]
        pairs += [("severity", self.severity), ("kind", self.kind)]
        pairs += [("channels", channel) for channel in self.channels]
        pairs += [("title", self.title), ("message", self.message)]
        pairs += [(TEXT_PREFIX + code, text) for code, text in self.texts.items()]
        return pairs


def blank_form(stations: tuple[str, ...]) -> RaiseForm:
    """A new form: the one station ticked when the principal may alert only one."""
    return RaiseForm(stations=stations if len(stations) == 1 else ())


def new_submission() -> str:
    """A fresh one-time value for a preview page's form."""
    return secrets.token_hex(_SUBMISSION_BYTES)


def submission_of(form: Form) -> str | None:
    """The form's one-time value; None when it has none; FieldError when it is not one."""
    value = form.first(SUBMISSION)
    if not value:
        return None
    if _SUBMISSION_SHAPE.fullmatch(value) is None:
        raise FieldError(SUBMISSION, N_("expected the 32 hexadecimal digits of the preview page"))
    return value


def names(text: str) -> list[str]:
    """The names in a text field, separated by commas, semicolons or spaces."""
    return [name for name in _SEPARATORS.split(text) if name]


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
