"""Which language the console answers in, from Accept-Language and the `lang` cookie."""

from __future__ import annotations

import pytest

from notifier.console.languages import pick_language


@pytest.mark.parametrize(
    ("header", "chosen", "expected"),
    [
        (None, None, "en"),
        ("", None, "en"),
        ("fr", None, "fr"),
        ("fr-CH, fr;q=0.9, en;q=0.8", None, "fr"),
        ("de-DE, es;q=0.7, fr;q=0.5", None, "es"),
        ("en;q=0.4, zh-Hans-CN;q=0.9", None, "zh"),
        ("AR", None, "ar"),
        ("ru;q=0, fr;q=0.1", None, "fr"),
        ("ru;q=abc, es", None, "es"),
        ("de, it", None, "en"),
        ("fr", "ru", "ru"),
        ("fr", "xx", "fr"),
    ],
)
def test_pick_language(header: str | None, chosen: str | None, expected: str) -> None:
    """The cookie's language if known, else the browser's best we have, else English."""
    assert pick_language(header, chosen) == expected
