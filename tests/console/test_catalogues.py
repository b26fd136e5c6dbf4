"""The console's gettext catalogues: every text of the templates and every text marked `N_` in
the package, in every language's file, the placeholders of each translation those of its msgid."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from notifier.console.languages import LANGUAGES, catalogue_path, load_translations

PACKAGE = Path(__file__).parent.parent.parent / "notifier"
CONSOLE = PACKAGE / "console"
COMPLETE = ("en", "fr")
"""The organisation's working languages: every text translated."""


def _template_msgids() -> set[str]:
    """The msgids `pybabel extract -F babel.cfg` finds in the package (the console's templates,
    the texts marked `N_`)."""
    with (CONSOLE / "babel.cfg").open(encoding="utf-8") as file:
        method_map, options_map = parse_mapping_cfg(file)  # type: ignore[no-untyped-call]
    found = {
        str(message)
        for _, _, message, _, _ in extract_from_dir(str(PACKAGE), method_map, options_map)
    }
    assert len(found) > 20  # the extraction did read the templates
    assert "longer than %(limit)s characters" in found  # and the Python modules
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_text_is_in_the_catalogue(language: str) -> None:
    """Each catalogue holds every msgid the templates use, and no other."""
    with catalogue_path(language).open("rb") as file:
        catalogue = read_po(file)
    in_catalogue = {str(message.id) for message in catalogue if message.id}
    assert in_catalogue == _template_msgids()


@pytest.mark.parametrize("language", COMPLETE)
def test_working_languages_are_complete(language: str) -> None:
    """English and French translate every msgid, none fuzzy."""
    with catalogue_path(language).open("rb") as file:
        catalogue = read_po(file)
    untranslated = [m.id for m in catalogue if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_catalogues_compile_and_translate() -> None:
    """Each catalogue compiles in memory; French translates, Russian falls back to English."""
    translations = load_translations()
    assert set(translations) == set(LANGUAGES)
    assert translations["fr"].gettext("Sign in") == "Se connecter"
    assert translations["ru"].gettext("Sign in") == "Sign in"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language: str) -> None:
    """Each translation fills the same %(name)s placeholders as its msgid (Babel's checks)."""
    with catalogue_path(language).open("rb") as file:
        catalogue = read_po(file)
    problems = [(message.id, errors) for message, errors in catalogue.check() if errors]
    assert problems == []
