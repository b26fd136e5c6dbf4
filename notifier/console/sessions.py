"""Console sessions: a signed cookie holding a token's digest, its issue time and a CSRF secret.

The cookie never holds the token itself. It is signed with `security.secret_key` under its
own salt (itsdangerous), so no other signature made with that key can pass for a session.
Each form carries an HMAC of the session's CSRF secret; all of this is pure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "notifier_session"
SALT = "notifier.console.session"
_CSRF_PURPOSE = b"notifier.console.form"


@dataclass(frozen=True, slots=True)
class Session:
    """One sign-in: the token's digest, when it was signed in, and the forms' secret."""

    digest: str
    issued_at: datetime
    csrf_secret: str

    def expired(self, now: datetime, minutes: int) -> bool:
        """Whether the session has lasted `minutes` by `now` (or claims to start in the future)."""
        return not (self.issued_at <= now < self.issued_at + timedelta(minutes=minutes))

    def csrf_token(self) -> str:
        """The value each form of this session carries in its `csrf` field."""
        key = self.csrf_secret.encode()
        return hmac.new(key, _CSRF_PURPOSE, hashlib.sha256).hexdigest()

    def csrf_matches(self, presented: str) -> bool:
        """Whether `presented` is this session's CSRF value (compared in constant time)."""
        return hmac.compare_digest(self.csrf_token().encode(), presented.encode())


def new_session(digest: str, now: datetime) -> Session:
    """A session for the token stored under `digest`, signed in at `now`."""
    return Session(digest, now, secrets.token_urlsafe(32))


def encode(session: Session, secret_key: str) -> str:
    """The cookie's value: the session, signed."""
    payload = {"d": session.digest, "t": session.issued_at.timestamp(), "c": session.csrf_secret}
    return str(_serializer(secret_key).dumps(payload))


def decode(value: str, secret_key: str) -> Session | None:
    """The session in a cookie's value; None if it is not one we signed or is malformed."""
    try:
        payload = _serializer(secret_key).loads(value)
    except BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    digest, issued, csrf = payload.get("d"), payload.get("t"), payload.get("c")
    if not (isinstance(digest, str) and isinstance(csrf, str) and isinstance(issued, int | float)):
        return None
    try:
        issued_at = datetime.fromtimestamp(issued, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return Session(digest, issued_at, csrf)


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)
