"""The console's languages: gettext catalogues compiled in memory, and the one a browser asks for.

The catalogues are `locales/<lang>/LC_MESSAGES/console.po`, read with Babel and compiled
to gettext's binary form in memory at start: nothing is generated in the source tree.
An empty msgstr falls back to the English msgid.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from types import MappingProxyType

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "fr", "ar", "es", "ru", "zh")
"""The console's languages, the default first."""
DEFAULT = LANGUAGES[0]
DOMAIN = "console"
RIGHT_TO_LEFT = frozenset({"ar"})
LOCALES = Path(__file__).parent / "locales"
_MAX_RANGES = 32  # language ranges of Accept-Language looked at


def catalogue_path(language: str, locales: Path = LOCALES) -> Path:
    """Where the catalogue of `language` is kept."""
    return locales / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(locales: Path = LOCALES) -> Mapping[str, gettext.GNUTranslations]:
    """Each language's catalogue, compiled in memory."""
    compiled = {}
    for language in LANGUAGES:
        with catalogue_path(language, locales).open("rb") as file:
            catalogue = read_po(file, locale=language, domain=DOMAIN)
        buffer = BytesIO()
        write_mo(buffer, catalogue)
        buffer.seek(0)
        compiled[language] = gettext.GNUTranslations(buffer)
    return MappingProxyType(compiled)


def pick_language(accept_language: str | None, chosen: str | None = None) -> str:
    """The language to answer in: `chosen` (the `lang` cookie) if known, else the browser's
    most preferred one we have (`Accept-Language`, by q-value then order), else English."""
    if chosen in LANGUAGES:
        return str(chosen)
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:_MAX_RANGES]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        quality = _quality(params)
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else DEFAULT


def _quality(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0
