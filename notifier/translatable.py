"""Texts the console shows in its reader's language: an English template and its values (pure).

A `Translatable` is a gettext msgid with `%(name)s` placeholders and the values that fill
them. Its English (`str()`) is what the API, the command line and the logs say; the console
looks the template up in its page's catalogue (notifier/console/locales) and fills in the
same values. `N_` builds one: being gettext's conventional marker, `pybabel extract` takes
its first argument into the catalogues (notifier/console/babel.cfg), so that a template is
always a literal string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Translatable:
    """A msgid with `%(name)s` placeholders (a literal `%` written `%%`) and their values."""

    template: str
    params: Mapping[str, object]

    def __str__(self) -> str:
        return self.template % self.params

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The text in the language of `gettext` (a catalogue without it gives the English)."""
        return gettext(self.template) % self.params


def N_(template: str, /, **params: object) -> Translatable:  # noqa: N802 (gettext's marker)
    """The text `template % params`, marked for extraction into the console's catalogues."""
    return Translatable(template, MappingProxyType(params))
