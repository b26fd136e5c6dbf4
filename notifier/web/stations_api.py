"""GET /api/v1/stations (the stations with their readiness level) and a station's readiness."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from notifier.errors import FieldError
from notifier.readiness_output import ReadinessFormat, render_readiness
from notifier.settings import Settings
from notifier.store.readiness_data import station_levels, station_report
from notifier.web.api import _database, _principal


async def list_stations(request: Request) -> JSONResponse:
    """GET /api/v1/stations: the stations the caller may read, by code, each with its level."""
    principal = await _principal(request)
    settings: Settings = request.app.state.settings
    now = request.app.state.clock.now()
    async with _database(request).session(read_only=True) as session:
        levels = await station_levels(session, principal, settings, now)
    return JSONResponse(
        [
            {
                "code": station.code,
                "name": station.name,
                "country": station.country,
                "timezone": station.timezone,
                "people": station.people,
                "level": readiness.level,
            }
            for station, readiness in levels
        ]
    )


async def station_readiness(request: Request) -> Response:
    """GET /api/v1/stations/{code}/readiness[?format=json|html|text]: JSON unless asked.

    Another station is as absent as one that does not exist (404). The page's trend plot is
    drawn in a worker thread, so that it holds up no other request.
    """
    principal = await _principal(request)
    format_ = _format(request.query_params.get("format"))
    settings: Settings = request.app.state.settings
    now = request.app.state.clock.now()
    async with _database(request).session(read_only=True) as session:
        report = await station_report(
            session, request.path_params["code"], principal, settings, now
        )
    rendered = await asyncio.to_thread(render_readiness, report, format_)
    return Response(rendered.content, media_type=rendered.media_type)


def _format(value: str | None) -> ReadinessFormat:
    if value is None or value == "":
        return ReadinessFormat.JSON
    for format_ in ReadinessFormat:
        if value.lower() == format_.value:
            return format_
    choices = ", ".join(format_.value for format_ in ReadinessFormat)
    raise FieldError("format", f"expected one of {choices}, got {value!r}")


ROUTES = [
    Route("/api/v1/stations", list_stations, methods=["GET"]),
    Route("/api/v1/stations/{code}/readiness", station_readiness, methods=["GET"]),
]
