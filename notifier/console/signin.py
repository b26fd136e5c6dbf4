"""Who is signed in to the console: the session cookie, checked against the token on each request.

Every request re-reads the token by its digest through the API's own lookup
(`notifier.web.principals`), so a revoked token or an expired session signs out at once,
on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from notifier.access import Principal
from notifier.console import sessions
from notifier.console.sessions import Session
from notifier.settings import Settings
from notifier.web.principals import principal_by_digest


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The principal of a valid session, and the session."""

    principal: Principal
    session: Session


def settings_of(request: Request) -> Settings:
    """The app's configuration."""
    settings: Settings = request.app.state.settings
    return settings


def secret_key(request: Request) -> str:
    """The key sessions are signed with (empty when none is configured)."""
    return settings_of(request).security.secret_key.get_secret_value()


async def signed_in(request: Request) -> SignedIn | None:
    """The valid session of this request with its principal; None when there is none."""
    key = secret_key(request)
    value = request.cookies.get(sessions.COOKIE)
    if not key or not value:
        return None
    session = sessions.decode(value, key)
    if session is None:
        return None
    now = request.app.state.clock.now()
    if session.expired(now, settings_of(request).console.session_minutes):
        return None
    principal = await principal_by_digest(request, session.digest)
    if principal is None:
        return None
    return SignedIn(principal, session)


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    """Give the browser the signed session: HttpOnly, SameSite=Lax, Secure behind https."""
    settings = settings_of(request)
    response.set_cookie(
        sessions.COOKIE,
        sessions.encode(session, secret_key(request)),
        max_age=settings.console.session_minutes * 60,
        path="/",
        secure=settings.http.public_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Make the browser forget the session."""
    secure = settings_of(request).http.public_url.startswith("https://")
    response.delete_cookie(sessions.COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
