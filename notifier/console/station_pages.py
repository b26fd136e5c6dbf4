"""The console's stations: the list with readiness levels, and one station's people and readiness.

Access is the API's: the stations come from the same store functions as `GET /api/v1/stations`
and `GET /api/v1/stations/{code}/readiness`, so a station outside the principal's scope is a
404 page like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from notifier.console import responding
from notifier.console.signin import settings_of, signed_in
from notifier.errors import NotFoundError
from notifier.store import drills
from notifier.store.readiness_data import station_levels, station_report
from notifier.store.station_people import station_people

PEOPLE_LIMIT = 500
"""The most people a station's page lists (and the most of those hard to reach)."""
LARGEST_CODE = 8


async def stations_page(request: Request) -> Response:
    """GET /stations: the stations the principal may read, with people and readiness level."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    now = request.app.state.clock.now()
    async with responding.database(request).session(read_only=True) as session:
        levels = await station_levels(session, user.principal, settings_of(request), now)
    return responding.render(
        request,
        "stations.html",
        user=user.principal,
        csrf=user.session.csrf_token(),
        levels=levels,
    )


async def station_page(request: Request) -> Response:
    """GET /stations/{code}: the station's people, reach, readiness criteria and drills."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    code = str(request.path_params["code"])
    context: dict[str, Any] = {"user": user.principal, "csrf": user.session.csrf_token()}
    if not (code.isascii() and code.isalnum() and len(code) <= LARGEST_CODE):
        return responding.render(request, "gone.html", status=404, thing="station", **context)
    now = request.app.state.clock.now()
    try:
        async with responding.database(request).session(read_only=True) as session:
            report = await station_report(session, code, user.principal, settings_of(request), now)
            people = await station_people(session, code, PEOPLE_LIMIT)
            found = await drills.list_drills(session, user.principal, now)
    except NotFoundError:
        return responding.render(request, "gone.html", status=404, thing="station", **context)
    return responding.render(
        request,
        "station.html",
        report=report,
        people=people,
        drills=[entry for entry in found if code in entry.drill.stations],
        **context,
    )


ROUTES: list[BaseRoute] = [
    Route("/stations", stations_page, methods=["GET"]),
    Route("/stations/{code}", station_page, methods=["GET"]),
]
