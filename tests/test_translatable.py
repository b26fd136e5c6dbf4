"""Translatable texts: English for the API and the command line, a catalogue's for the console."""

from __future__ import annotations

from notifier.errors import FieldError
from notifier.translatable import N_

FRENCH = {"longer than %(limit)s characters": "dépasse %(limit)s caractères"}


def _french(msgid: str) -> str:
    """A catalogue's gettext: the translation, or the msgid when it has none."""
    return FRENCH.get(msgid, msgid)


def test_the_english_is_the_template_filled_in() -> None:
    """str() fills the msgid's placeholders; a literal %% stays one %."""
    assert str(N_("longer than %(limit)s characters", limit=200)) == "longer than 200 characters"
    assert str(N_("%(percent)s %% reachable", percent="64.5")) == "64.5 % reachable"


def test_a_catalogue_translates_with_the_same_values() -> None:
    """The catalogue's text takes the same values; a msgid it lacks stays English."""
    assert N_("longer than %(limit)s characters", limit=200).translated(_french) == (
        "dépasse 200 caractères"
    )
    assert N_("required text").translated(_french) == "required text"


def test_a_field_error_keeps_its_english_reason_and_its_wording() -> None:
    """A FieldError given a Translatable reads as before; a plain reason has no wording."""
    error = FieldError("title", N_("longer than %(limit)s characters", limit=200))
    assert error.reason == "longer than 200 characters"
    assert str(error) == "title: longer than 200 characters"
    assert error.wording is not None
    assert error.wording.translated(_french) == "dépasse 200 caractères"
    plain = FieldError("body", "expected a JSON object")
    assert (plain.reason, plain.wording) == ("expected a JSON object", None)
