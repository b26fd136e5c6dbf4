"""Acknowledgement tokens: issued and verified with the secret key, tamper- and expiry-proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notifier.ack_tokens import ExpiredTokenError, InvalidTokenError, issue, verify

SECRET = b"test-secret-key-0123456789"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=7)


def test_issued_token_verifies_to_its_claims() -> None:
    """A token names its alert and person, and fits an e-mail local part."""
    token = issue(SECRET, 42, 1001, LATER)
    claim = verify(SECRET, token, NOW)
    assert (claim.alert_id, claim.person, claim.expires_at) == (42, 1001, LATER)
    assert len("ack+" + token) <= 64
    assert token == token.lower()


def test_token_is_case_insensitive() -> None:
    """Mail systems may upper-case a local part; the token still verifies."""
    token = issue(SECRET, 42, 1001, LATER)
    assert verify(SECRET, token.upper(), NOW).person == 1001


def test_tampered_token_is_rejected() -> None:
    """Changing any character of a token, or signing with another key, makes it invalid."""
    token = issue(SECRET, 42, 1001, LATER)
    for position in (0, 10, len(token) - 1):
        replacement = "a" if token[position] != "a" else "b"
        forged = token[:position] + replacement + token[position + 1 :]
        with pytest.raises(InvalidTokenError):
            verify(SECRET, forged, NOW)
    with pytest.raises(InvalidTokenError):
        verify(SECRET, issue(b"another-secret-key-xyz", 42, 1001, LATER), NOW)
    for garbage in ("", "not a token", "ack", "0" * 45):
        with pytest.raises(InvalidTokenError):
            verify(SECRET, garbage, NOW)


def test_expired_token_is_rejected() -> None:
    """A token past its expiry no longer acknowledges."""
    token = issue(SECRET, 42, 1001, LATER)
    with pytest.raises(ExpiredTokenError):
        verify(SECRET, token, LATER)
