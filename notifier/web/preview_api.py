"""POST /api/v1/alerts/preview: what raising this alert would send, to whom, at what cost."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifier.access import Action
from notifier.alert_preview import preview_alert, preview_json
from notifier.alert_request import parse_alert_request
from notifier.errors import ForbiddenError
from notifier.web.api import _database, _json_body, _principal


async def preview(request: Request) -> JSONResponse:
    """The body of POST /api/v1/alerts, checked as raising checks it, previewed; nothing written.

    Officers and admins only (a viewer is refused with 403 before the body is read); an
    officer's unknown or foreign station, group or person is answered as raising answers it.
    """
    principal = await _principal(request)
    if not principal.may(Action.SEND):
        raise ForbiddenError(f"{principal.name} may not raise alerts")
    alert_request = parse_alert_request(await _json_body(request))
    async with _database(request).session(read_only=True) as session:
        found = await preview_alert(
            session,
            alert_request,
            principal,
            request.app.state.settings,
            request.app.state.templates,
        )
    return JSONResponse(preview_json(found))


ROUTES = [Route("/api/v1/alerts/preview", preview, methods=["POST"])]
