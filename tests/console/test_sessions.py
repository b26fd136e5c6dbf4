"""Session cookies and CSRF values, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.console import sessions

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEY = "k7Qw2Zp9Lm4Xr8Tv1Ny6Hb3Jc5Fd0Gs"


def test_a_session_survives_its_cookie() -> None:
    """Encoded and decoded with the same key, the session is unchanged."""
    session = sessions.new_session("ab" * 32, NOW)
    assert sessions.decode(sessions.encode(session, KEY), KEY) == session


@pytest.mark.parametrize("value", ["", "abc", "e30.bad", "W10.x"])
def test_garbage_is_no_session(value: str) -> None:
    """A value that is not a session we signed decodes to None."""
    assert sessions.decode(value, KEY) is None


def test_tampered_cookie_is_no_session() -> None:
    """Changing one character of the cookie breaks its signature: one of the signed payload's,
    or the signature's first (its last may carry only padding bits, which decode the same)."""
    value = sessions.encode(sessions.new_session("ab" * 32, NOW), KEY)
    payload, _, signature = value.rpartition(".")

    def flip(character: str) -> str:
        return "A" if character != "A" else "B"

    for tampered in (
        f"{payload[:5]}{flip(payload[5])}{payload[6:]}.{signature}",
        f"{payload}.{flip(signature[0])}{signature[1:]}",
    ):
        assert sessions.decode(tampered, KEY) is None


def test_expiry_and_the_future() -> None:
    """A session is valid from its issue for `minutes`, and not when it claims a later start."""
    session = sessions.new_session("ab" * 32, NOW)
    assert not session.expired(NOW, 480)
    assert not session.expired(NOW + timedelta(minutes=479, seconds=59), 480)
    assert session.expired(NOW + timedelta(minutes=480), 480)
    assert session.expired(NOW - timedelta(seconds=1), 480)


def test_csrf_value_is_per_session() -> None:
    """Each session has its own CSRF value; it matches only itself."""
    first = sessions.new_session("ab" * 32, NOW)
    second = sessions.new_session("ab" * 32, NOW)
    assert first.csrf_token() != second.csrf_token()
    assert first.csrf_matches(first.csrf_token())
    assert not first.csrf_matches(second.csrf_token())
    assert not first.csrf_matches("")
