"""The twilio SDK's HTTP client: the form it sends is exactly what `urlencode` would send."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from notifier.channels.twilio_http import form_encoded

values = st.text() | st.integers() | st.lists(st.text(), max_size=3)


@given(st.dictionaries(st.text(min_size=1), values, max_size=6))
def test_the_form_is_urlencodes_own(fields: dict[str, object]) -> None:
    assert form_encoded(fields) == urlencode(fields, doseq=True)


def test_a_message_body_in_any_script_survives() -> None:
    body = "Séisme: quittez le bâtiment. Ответьте 1. 回复1。 رد 1 + 2 & 3 = ok?"
    assert form_encoded({"Body": body, "To": "+41791234567"}) == urlencode(
        {"Body": body, "To": "+41791234567"}
    )
