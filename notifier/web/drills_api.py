"""The drill schedules under /api/v1/drills: list, add, remove, pause, resume, and run now."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from notifier.access import Action
from notifier.drill_json import drill_json
from notifier.drill_request import DRILL_NAME, parse_drill_request
from notifier.errors import ForbiddenError, NotFoundError
from notifier.messages import Templates
from notifier.store import drills
from notifier.web.api import _database, _json_body, _principal, _raised


async def list_drills(request: Request) -> JSONResponse:
    """GET /api/v1/drills: the drills the caller may read, by name, with their next runs."""
    principal = await _principal(request)
    async with _database(request).session(read_only=True) as session:
        entries = await drills.list_drills(session, principal, request.app.state.clock.now())
    return JSONResponse([drill_json(entry) for entry in entries])


async def add_drill(request: Request) -> JSONResponse:
    """POST /api/v1/drills: 201 with the drill as `GET` lists it."""
    principal = await _principal(request)
    if not principal.may(Action.SEND):  # before a byte of the body is read
        raise ForbiddenError(f"{principal.name} may not add drills")
    drill_request = parse_drill_request(await _json_body(request))
    async with _database(request).session() as session:
        entry = await drills.add_drill(
            session, drill_request, principal, request.app.state.clock.now()
        )
    location = f"/api/v1/drills/{entry.drill.name}"
    return JSONResponse(drill_json(entry), status_code=201, headers={"Location": location})


async def remove_drill(request: Request) -> Response:
    """DELETE /api/v1/drills/{name}: 204; the alerts it raised stay."""
    principal = await _principal(request)
    async with _database(request).session() as session:
        await drills.remove_drill(session, _name(request), principal, request.app.state.clock.now())
    return Response(status_code=204)


async def pause_drill(request: Request) -> JSONResponse:
    """POST /api/v1/drills/{name}/pause: the drill, paused."""
    return await _set_paused(request, paused=True)


async def resume_drill(request: Request) -> JSONResponse:
    """POST /api/v1/drills/{name}/resume: the drill, firing again."""
    return await _set_paused(request, paused=False)


async def run_drill(request: Request) -> JSONResponse:
    """POST /api/v1/drills/{name}/run: 202 with the alert raised, as `POST /alerts` answers."""
    principal = await _principal(request)
    templates: Templates = request.app.state.templates
    return await _raised(
        request, lambda session: drills.run_drill(session, _name(request), principal, templates)
    )


ROUTES = [
    Route("/api/v1/drills", list_drills, methods=["GET"]),
    Route("/api/v1/drills", add_drill, methods=["POST"]),
    Route("/api/v1/drills/{name}", remove_drill, methods=["DELETE"]),
    Route("/api/v1/drills/{name}/pause", pause_drill, methods=["POST"]),
    Route("/api/v1/drills/{name}/resume", resume_drill, methods=["POST"]),
    Route("/api/v1/drills/{name}/run", run_drill, methods=["POST"]),
]


async def _set_paused(request: Request, *, paused: bool) -> JSONResponse:
    principal = await _principal(request)
    async with _database(request).session() as session:
        entry = await drills.set_paused(
            session, _name(request), principal, paused=paused, now=request.app.state.clock.now()
        )
    return JSONResponse(drill_json(entry))


def _name(request: Request) -> str:
    name = str(request.path_params["name"])
    if not DRILL_NAME.fullmatch(name):
        raise NotFoundError(f"drill {name!r} does not exist")
    return name
