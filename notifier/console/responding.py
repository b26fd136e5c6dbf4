"""What console pages answer with: a page in the reader's language, a redirect, a refusal.

The sign-in redirect and the refusal of a form without its CSRF value are here too; the page
modules build on this module, and `pages` gathers their routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from notifier.console import sessions
from notifier.console.languages import pick_language
from notifier.console.rendering import Pages
from notifier.console.signin import SignedIn, clear_session_cookie, signed_in
from notifier.errors import InputError
from notifier.store.engine import Database
from notifier.web.forms import read_form

LANGUAGE_COOKIE = "lang"
PAGES = Pages.load()

LANGUAGE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "en": "English",
        "fr": "Français",
        "es": "Español",
        "ru": "Русский",
        "zh": "中文",
        "ar": "العربية",
    }
)
"""Each language by its own name, for the switcher."""

HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    }
)
"""Sent with every console page."""


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page `name` in the request's language."""
    language = pick_language(
        request.headers.get("accept-language"), request.cookies.get(LANGUAGE_COOKIE)
    )
    body = PAGES.render(name, language, {"languages": LANGUAGE_NAMES, **context})
    return HTMLResponse(body, status_code=status, headers=dict(HEADERS))


def database(request: Request) -> Database:
    """The daemon's database, as the app holds it."""
    found: Database = request.app.state.database
    return found


def user_context(user: SignedIn) -> dict[str, Any]:
    """What every signed-in page shows: who is signed in, and the CSRF value for its forms."""
    return {"user": user.principal, "csrf": user.session.csrf_token()}


def to_login(request: Request) -> RedirectResponse:
    """303 to the sign-in page, forgetting any session the browser held."""
    response = RedirectResponse("/login", status_code=303)
    if request.cookies.get(sessions.COOKIE):
        clear_session_cookie(request, response)
    return response


async def form_poster(request: Request) -> SignedIn | Response:
    """Who posted this form, signed in and with the session's CSRF value; else the answer to
    give (the sign-in redirect, or the 403 refusal)."""
    user = await signed_in(request)
    if user is None:
        return to_login(request)
    refused = await csrf_refusal(request, user)
    return user if refused is None else refused


async def csrf_refusal(request: Request, user: SignedIn) -> Response | None:
    """403 unless the posted form's `csrf` field is the session's; None when it is."""
    try:
        presented = (await read_form(request)).first("csrf")
    except InputError:
        presented = ""
    if presented and user.session.csrf_matches(presented):
        return None
    csrf = user.session.csrf_token()
    return render(request, "refused.html", status=403, user=user.principal, csrf=csrf)
