"""Signed acknowledgement tokens: who (person) may answer what (alert) until when.

A token is base32 (lower case, no padding) of 12 bytes of claims (alert id, person id,
expiry in Unix seconds) and the first 16 bytes of their HMAC-SHA256 under the secret key:
45 characters, short enough for the local part `ack+TOKEN@reply_domain` (64 at most) and
case-insensitive like e-mail addresses. Only a token we issued can acknowledge, and only for
the person it names; the comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from notifier.errors import InputError

_CLAIMS = struct.Struct(">III")
_SIGNATURE_BYTES = 16


class InvalidTokenError(InputError):
    """The token was not issued by us, or was altered."""


class ExpiredTokenError(InputError):
    """The token was issued by us but its time has passed."""


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a valid token says."""

    alert_id: int
    person: int
    expires_at: datetime


def issue(secret: bytes, alert_id: int, person: int, expires_at: datetime) -> str:
    """A token letting `person` acknowledge `alert_id` until `expires_at`."""
    claims = _CLAIMS.pack(alert_id, person, int(expires_at.timestamp()))
    signature = hmac.new(secret, claims, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.b32encode(claims + signature).decode().rstrip("=").lower()


def verify(secret: bytes, token: str, now: datetime) -> AckClaim:
    """The claims of a token we issued that has not expired; raise otherwise."""
    raw = _decode(token)
    claims, signature = raw[: _CLAIMS.size], raw[_CLAIMS.size :]
    expected = hmac.new(secret, claims, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    if not hmac.compare_digest(signature, expected):
        raise InvalidTokenError("this acknowledgement link or address is not valid")
    alert_id, person, expiry = _CLAIMS.unpack(claims)
    expires_at = datetime.fromtimestamp(expiry, UTC)
    if now >= expires_at:
        raise ExpiredTokenError("this acknowledgement link or address has expired")
    return AckClaim(alert_id, person, expires_at)


def _decode(token: str) -> bytes:
    text = token.strip().upper()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("this acknowledgement link or address is not valid") from None
    canonical = base64.b32encode(raw).decode().rstrip("=")
    if len(raw) != _CLAIMS.size + _SIGNATURE_BYTES or canonical != text:
        # The last character carries unused bits: only the one spelling we issue is valid.
        raise InvalidTokenError("this acknowledgement link or address is not valid")
    return raw
