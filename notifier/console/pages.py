"""The console's routes: sign-in and sign-out, the alert list, the language, static files; and
the routes of the page modules (alerts, raising, stations, drills, the audit log).

Every page but the sign-in redirects (303) to `/login` without a valid session. Every form
POST but the sign-in carries the session's CSRF value in its `csrf` field, or is refused
with 403 before anything changes.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from notifier.access import Action, token_digest
from notifier.console import (
    alert_pages,
    audit_pages,
    drill_pages,
    raise_pages,
    responding,
    sessions,
    station_pages,
)
from notifier.console.languages import LANGUAGES
from notifier.console.responding import LANGUAGE_COOKIE, form_poster, render, to_login
from notifier.console.signin import (
    secret_key,
    set_session_cookie,
    signed_in,
)
from notifier.domain import OPEN_ALERT_STATUSES
from notifier.errors import InputError
from notifier.store import alerts
from notifier.store.answer_counts import answers_by_alert
from notifier.web.forms import read_form
from notifier.web.principals import principal_by_digest

STATIC = Path(__file__).parent / "static"
LIST_LIMIT = 100
"""The most alerts the console's list shows."""
LANGUAGE_SECONDS = 365 * 24 * 3600


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
    user = await form_poster(request)
    if isinstance(user, Response):
        return user
    return to_login(request)


async def home(request: Request) -> Response:
    """GET /: the alerts the principal may read, open ones first, with their live figures."""
    user = await signed_in(request)
    if user is None:
        return to_login(request)
    async with responding.database(request).session(read_only=True) as session:
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


async def choose_language(request: Request) -> Response:
    """GET /language/{code}: remember the language chosen (the `lang` cookie) and go home."""
    code = str(request.path_params["code"])
    response = RedirectResponse("/", status_code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, code, max_age=LANGUAGE_SECONDS, path="/", samesite="lax"
        )
    return response


ROUTES: list[BaseRoute] = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", home, methods=["GET"]),
    *raise_pages.ROUTES,  # before /alerts/{alert_id}, which would take /alerts/new
    Route("/language/{code}", choose_language, methods=["GET"]),
    *station_pages.ROUTES,
    *drill_pages.ROUTES,
    *audit_pages.ROUTES,
    *alert_pages.ROUTES,
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
