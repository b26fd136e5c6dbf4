"""Console pages rendered with Jinja2 (autoescape on, i18n), one environment per language.

Besides gettext's `_`, each environment has the filter `translated`: a `Translatable` (a
field's error, a readiness criterion) in the page's language, a plain text as it is.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notifier.console.languages import LOCALES, RIGHT_TO_LEFT, load_translations
from notifier.translatable import Translatable

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Pages:
    """The console's templates, ready to render in each language."""

    environments: Mapping[str, Environment]

    @classmethod
    def load(cls, templates: Path = TEMPLATES, locales: Path = LOCALES) -> Pages:
        """Compile the catalogues and set up one environment per language."""
        translations = load_translations(locales)
        return cls(
            MappingProxyType(
                {
                    language: _environment(templates, translation)
                    for language, translation in translations.items()
                }
            )
        )

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> str:
        """The template `name` in `language`, with `context`."""
        template = self.environments[language].get_template(name)
        direction = "rtl" if language in RIGHT_TO_LEFT else "ltr"
        return template.render({"lang": language, "direction": direction, **context})


def _environment(templates: Path, translation: gettext.GNUTranslations) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
    environment.filters["translated"] = partial(translated, translation.gettext)
    return environment


def translated(gettext: Callable[[str], str], text: Translatable | str) -> str:
    """`text` in the language of `gettext`: a `Translatable` through the catalogue, a plain
    text (English, with no template to look up) as it is."""
    return text.translated(gettext) if isinstance(text, Translatable) else text
