"""The console's routes: sign-in and sign-out, the alert list, one alert's figures, static files.

Every page but the sign-in redirects (303) to `/login` without a valid session. Every form
POST but the sign-in carries the session's CSRF value in its `csrf` field, or is refused
with 403 before anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from notifier.access import Action, token_digest
from notifier.console import sessions
from notifier.console.languages import LANGUAGES, pick_language
from notifier.console.rendering import Pages
from notifier.console.signin import (
    SignedIn,
    clear_session_cookie,
    secret_key,
    set_session_cookie,
    signed_in,
)
from notifier.domain import OPEN_ALERT_STATUSES
from notifier.errors import InputError, NotFoundError
from notifier.store import alert_views, alerts
from notifier.store.answer_counts import answers_by_alert
from notifier.store.engine import Database
from notifier.web.forms import read_form
from notifier.web.principals import principal_by_digest

STATIC = Path(__file__).parent / "static"
LIST_LIMIT = 100
"""The most alerts the console's list shows."""
LANGUAGE_COOKIE = "lang"
LANGUAGE_SECONDS = 365 * 24 * 3600
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


def to_login(request: Request) -> RedirectResponse:
    """303 to the sign-in page, forgetting any session the browser held."""
    response = RedirectResponse("/login", status_code=303)
    if request.cookies.get(sessions.COOKIE):
        clear_session_cookie(request, response)
    return response


async def login_page(request: Request) -> Response:
    """GET /login: the sign-in form (or the console, when already signed in)."""
    if await signed_in(request) is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", problem="")


async def login(request: Request) -> Response:
    """POST /login: a valid API token signs in (303 to /); any other gets the form with 401."""
    if not secret_key(request):
        return render(request, "login.html", status=503, problem="unconfigured")
    try:
        token = (await read_form(request)).first("token").strip()
    except InputError:
        return render(request, "login.html", status=400, problem="form")
    digest = token_digest(token)
    if not token or await principal_by_digest(request, digest) is None:
        return render(request, "login.html", status=401, problem="token")
    response = RedirectResponse("/", status_code=303)
    session = sessions.new_session(digest, request.app.state.clock.now())
    set_session_cookie(request, response, session)
    return response


async def logout(request: Request) -> Response:
    """POST /logout: the session is forgotten; back to the sign-in form."""
    user = await signed_in(request)
    if user is None:
        return to_login(request)
    refused = await csrf_refusal(request, user)
    if refused is not None:
        return refused
    return to_login(request)


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


async def home(request: Request) -> Response:
    """GET /: the alerts the principal may read, open ones first, with their live figures."""
    user = await signed_in(request)
    if user is None:
        return to_login(request)
    async with _database(request).session(read_only=True) as session:
        found = await alerts.list_alerts(session, user.principal, limit=LIST_LIMIT)
        answers = await answers_by_alert(session, [a.id for a in found if a.id is not None])
    rows = [
        {"alert": alert, "answers": answers.get(alert.id or 0, {})}
        for alert in sorted(found, key=lambda alert: alert.status not in OPEN_ALERT_STATUSES)
    ]
    return render(
        request,
        "home.html",
        user=user.principal,
        csrf=user.session.csrf_token(),
        rows=rows,
        may_raise=user.principal.may(Action.SEND),
    )


async def alert_page(request: Request) -> Response:
    """GET /alerts/{id}: one alert's figures; 404 alike for one the principal may not read."""
    user = await signed_in(request)
    if user is None:
        return to_login(request)
    raw = str(request.path_params["alert_id"])
    context: dict[str, Any] = {"user": user.principal, "csrf": user.session.csrf_token()}
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(alerts.LARGEST_ID))):
        return render(request, "missing.html", status=404, **context)
    try:
        async with _database(request).session(read_only=True) as session:
            alert = await alerts.get_alert(session, int(raw), user.principal)
            counts = await alert_views.alert_counts(session, alert)
    except NotFoundError:
        return render(request, "missing.html", status=404, **context)
    return render(request, "alert.html", alert=alert, counts=counts, **context)


async def raise_page(request: Request) -> Response:
    """GET /alerts/new: where alerts will be raised; 403 for those who may not raise."""
    user = await signed_in(request)
    if user is None:
        return to_login(request)
    context: dict[str, Any] = {"user": user.principal, "csrf": user.session.csrf_token()}
    if not user.principal.may(Action.SEND):
        return render(request, "refused.html", status=403, **context)
    return render(request, "raise.html", **context)


async def choose_language(request: Request) -> Response:
    """GET /language/{code}: remember the language chosen (the `lang` cookie) and go home."""
    code = str(request.path_params["code"])
    response = RedirectResponse("/", status_code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, code, max_age=LANGUAGE_SECONDS, path="/", samesite="lax"
        )
    return response


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


ROUTES: list[BaseRoute] = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", home, methods=["GET"]),
    Route("/alerts/new", raise_page, methods=["GET"]),
    Route("/alerts/{alert_id}", alert_page, methods=["GET"]),
    Route("/language/{code}", choose_language, methods=["GET"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
