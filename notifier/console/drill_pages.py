"""The console's drills: the list with next runs, and run now, pause and resume as forms.

Every change goes through the same store functions as the API's routes (`notifier.store.drills`),
audited with the principal's source. Each POST checks the form's CSRF value first, then acts,
then redirects (303): pause and resume back to the list, run now to the alert it raised.
A viewer is refused (403 page); a drill of another station is a 404 page like a missing one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from notifier.access import Action
from notifier.console import responding
from notifier.console.signin import SignedIn, signed_in
from notifier.drill_request import DRILL_NAME
from notifier.errors import ForbiddenError, InputError, NotFoundError
from notifier.messages import Templates
from notifier.store import drills


async def drills_page(request: Request) -> Response:
    """GET /drills: the drills the principal may read, with the forms of those they manage."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    return await _listing(request, user)


async def _listing(
    request: Request, user: SignedIn, problem: str = "", status: int = 200
) -> Response:
    """The list of drills, with `problem` (why the last change was refused) when there is one."""
    now = request.app.state.clock.now()
    async with responding.database(request).session(read_only=True) as session:
        found = await drills.list_drills(session, user.principal, now)
    rows = [
        {"entry": entry, "manage": user.principal.allows(Action.SEND, entry.drill.stations)}
        for entry in found
    ]
    return responding.render(
        request,
        "drills.html",
        status=status,
        user=user.principal,
        csrf=user.session.csrf_token(),
        rows=rows,
        problem=problem,
    )


async def run_now(request: Request) -> Response:
    """POST /drills/{name}/run: raise the drill's alert now; 303 to that alert's page."""
    user = await responding.form_poster(request)
    if isinstance(user, Response):
        return user
    name = _name(request)
    templates: Templates = request.app.state.templates
    try:
        if name is None:
            raise NotFoundError("no such drill")
        async with responding.database(request).session() as session:
            alert = await drills.run_drill(session, name, user.principal, templates)
    except (ForbiddenError, NotFoundError) as error:
        return _refusal(request, user, error)
    except InputError as error:  # e.g. no one is left in the drill's groups
        return await _listing(request, user, problem=str(error), status=422)
    request.app.state.wake_dispatcher()
    return RedirectResponse(f"/alerts/{alert.id}", status_code=303)


async def pause(request: Request) -> Response:
    """POST /drills/{name}/pause: the drill stops firing; 303 back to the list."""
    return await _set_paused(request, paused=True)


async def resume(request: Request) -> Response:
    """POST /drills/{name}/resume: the drill fires again; 303 back to the list."""
    return await _set_paused(request, paused=False)


async def _set_paused(request: Request, *, paused: bool) -> Response:
    user = await responding.form_poster(request)
    if isinstance(user, Response):
        return user
    name = _name(request)
    now = request.app.state.clock.now()
    try:
        if name is None:
            raise NotFoundError("no such drill")
        async with responding.database(request).session() as session:
            await drills.set_paused(session, name, user.principal, paused=paused, now=now)
    except (ForbiddenError, NotFoundError) as error:
        return _refusal(request, user, error)
    return RedirectResponse("/drills", status_code=303)


def _refusal(request: Request, user: SignedIn, error: ForbiddenError | NotFoundError) -> Response:
    """The 403 page for a role that may not, the 404 page for a drill not found or not theirs."""
    context: dict[str, Any] = {"user": user.principal, "csrf": user.session.csrf_token()}
    if isinstance(error, ForbiddenError):
        return responding.render(request, "refused.html", status=403, **context)
    return responding.render(request, "gone.html", status=404, thing="drill", **context)


def _name(request: Request) -> str | None:
    name = str(request.path_params["name"])
    return name if DRILL_NAME.fullmatch(name) else None


ROUTES: list[BaseRoute] = [
    Route("/drills", drills_page, methods=["GET"]),
    Route("/drills/{name}/run", run_now, methods=["POST"]),
    Route("/drills/{name}/pause", pause, methods=["POST"]),
    Route("/drills/{name}/resume", resume, methods=["POST"]),
]
