"""The console's page of one alert: its figures and people, live counts, cancel and close,
and a draft's sending.

Access is the API's: the alert through `alerts.get_alert` (another station's is 404 like a
missing one), its lists through `alert_views`, cancel, close and send through the store
functions behind `POST /api/v1/alerts/{id}/cancel|close|send` (audited with the principal's
source). A draft (from a CAP message) is reviewed on its page and sent from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from notifier.access import Action, Principal
from notifier.alert_json import alert_detail
from notifier.console import responding
from notifier.console.curve_svg import curve_drawing
from notifier.console.signin import signed_in
from notifier.domain import OPEN_ALERT_STATUSES, AlertStatus, ResponseKind
from notifier.errors import ConflictError, ForbiddenError, NotFoundError
from notifier.reports import alert_report
from notifier.store import alert_views, alerts, drafts
from notifier.store.alert_views import AlertCounts, RecipientRow
from notifier.store.report_data import recipient_facts
from notifier.store.tables import Alert
from notifier.web.errors import error_response

LISTED = 500
"""The most people each list of the page (help, other answers, not answered) shows."""
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class Step:
    """Cancel or close: its name in the URL and the template, and the store function doing it."""

    name: str
    act: Callable[[AsyncSession, int, Principal, datetime], Awaitable[Alert]]
    statuses: frozenset[str]
    """The statuses of the alerts it applies to."""


async def _cancel(session: AsyncSession, alert_id: int, principal: Principal, _: datetime) -> Alert:
    return await alerts.cancel_alert(session, alert_id, principal)


async def _close(session: AsyncSession, alert_id: int, principal: Principal, _: datetime) -> Alert:
    return await alerts.close_alert(session, alert_id, principal)


STEPS = {
    "cancel": Step("cancel", _cancel, frozenset(OPEN_ALERT_STATUSES)),
    "close": Step("close", _close, frozenset(OPEN_ALERT_STATUSES)),
    "send": Step("send", drafts.send_draft, frozenset({AlertStatus.DRAFT.value})),
}


async def alert_page(request: Request) -> Response:
    """GET /alerts/{id}: the alert, its answers, who needs help first, deliveries, the curve."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    context = responding.user_context(user)
    try:
        async with responding.database(request).session(read_only=True) as session:
            alert = await alerts.get_alert(session, _alert_id(request), user.principal)
            counts = await alert_views.alert_counts(session, alert)
            audience = await _audience(session, alert)
            assert alert.id is not None
            help_rows = await _listed(session, alert.id, response=ResponseKind.HELP)
            other_rows = await _listed(session, alert.id, response=ResponseKind.OTHER)
            silent = await _listed(session, alert.id, acknowledged=False)
            facts = await recipient_facts(session, alert.id)
    except NotFoundError:
        return responding.render(request, "missing.html", status=404, **context)
    report = await asyncio.to_thread(alert_report, alert.created_at, facts, [])
    recipients = max(counts.recipients, audience or 0)
    may_act = _may_act(user.principal, alert, STEPS["cancel"])
    return responding.render(
        request,
        "alert.html",
        alert=alert,
        counts=counts,
        recipients=recipients,
        not_answered=max(0, recipients - counts.acknowledged),
        help_rows=help_rows,
        help_more=_more(counts.responses.get(ResponseKind.HELP.value, 0), help_rows),
        other_rows=other_rows,
        other_more=_more(counts.responses.get(ResponseKind.OTHER.value, 0), other_rows),
        silent_by_station=_by_station(silent),
        silent_more=_more(recipients - counts.acknowledged, silent),
        channels=_channels_shown(alert, counts),
        curve=curve_drawing(report.curve, recipients),
        may_cancel=may_act,
        may_close=may_act,
        may_send=_may_act(user.principal, alert, STEPS["send"]),
        **context,
    )


async def alert_live(request: Request) -> Response:
    """GET /alerts/{id}/live: the alert's figures (as the API's) and its help list, as JSON."""
    user = await signed_in(request)
    if user is None:
        return error_response(401, "unauthorized", "sign in again")
    try:
        async with responding.database(request).session(read_only=True) as session:
            alert = await alerts.get_alert(session, _alert_id(request), user.principal)
            counts = await alert_views.alert_counts(session, alert)
            audience = await _audience(session, alert)
            assert alert.id is not None
            help_rows = await _listed(session, alert.id, response=ResponseKind.HELP)
    except NotFoundError:
        return error_response(404, "not_found", "no such alert")
    body = alert_detail(alert, counts, audience) | {
        "help": [_help_json(row) for row in help_rows],
        "help_more": _more(counts.responses.get(ResponseKind.HELP.value, 0), help_rows),
    }
    return JSONResponse(body, headers=NO_STORE)


async def confirm_page(request: Request) -> Response:
    """GET /alerts/{id}/cancel|close|send: what will happen, and the form that does it."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    step = _step(request)
    context = responding.user_context(user)
    if not user.principal.may(Action.SEND):  # the role first, as the API
        return responding.render(request, "refused.html", status=403, **context)
    try:
        async with responding.database(request).session(read_only=True) as session:
            alert = await alerts.get_alert(session, _alert_id(request), user.principal)
    except NotFoundError:
        return responding.render(request, "missing.html", status=404, **context)
    if not _may_act(user.principal, alert, step):
        if alert.status not in step.statuses:  # nothing left to do: back to the alert
            return RedirectResponse(f"/alerts/{alert.id}", status_code=303)
        return responding.render(request, "refused.html", status=403, **context)
    return responding.render(request, "confirm.html", alert=alert, step=step.name, **context)


async def confirm(request: Request) -> Response:
    """POST /alerts/{id}/cancel|close|send: CSRF first, then the store's step; 303 back."""
    user = await responding.form_poster(request)
    if isinstance(user, Response):
        return user
    step = _step(request)
    context = responding.user_context(user)
    try:
        async with responding.database(request).session() as session:
            now = request.app.state.clock.now()
            alert = await step.act(session, _alert_id(request), user.principal, now)
    except NotFoundError:
        return responding.render(request, "missing.html", status=404, **context)
    except ForbiddenError:
        return responding.render(request, "refused.html", status=403, **context)
    except ConflictError:  # sent meanwhile by another officer: its page says so
        return RedirectResponse(f"/alerts/{_alert_id(request)}", status_code=303)
    if step.name == "send":
        request.app.state.wake_dispatcher()
    return RedirectResponse(f"/alerts/{alert.id}", status_code=303)


def _alert_id(request: Request) -> int:
    """The path's alert id; 0 (which names no alert) when it is not digits or past the largest."""
    raw = str(request.path_params["alert_id"])
    digits = raw.lstrip("0") or "0"
    if not (raw.isascii() and raw.isdigit() and len(digits) <= len(str(alerts.LARGEST_ID))):
        return 0
    return int(digits)


def _step(request: Request) -> Step:
    return STEPS[request.url.path.rstrip("/").rsplit("/", 1)[1]]


def _may_act(principal: Principal, alert: Alert, step: Step) -> bool:
    """Whether the principal may take the step on the alert, by the store's rule, and it applies
    to the alert's status."""
    scope = alert.audience.get("scope", [])
    return principal.allows(Action.SEND, scope) and alert.status in step.statuses


async def _audience(session: AsyncSession, alert: Alert) -> int | None:
    """Until the whole audience is listed, its size (as `GET /api/v1/alerts/{id}` gives it)."""
    if alert.materialised_at is None and alert.id is not None:
        return await alert_views.audience_size(session, alert.id)
    return None


async def _listed(
    session: AsyncSession,
    alert_id: int,
    *,
    response: ResponseKind | None = None,
    acknowledged: bool | None = None,
) -> list[RecipientRow]:
    return await alert_views.recipients(
        session, alert_id, response=response, acknowledged=acknowledged, limit=LISTED
    )


def _more(total: int, shown: list[RecipientRow]) -> int:
    """How many of `total` people a list leaves out."""
    return max(0, total - len(shown))


def _by_station(rows: list[RecipientRow]) -> list[tuple[str, list[RecipientRow]]]:
    """The rows grouped per station, stations in alphabetical order."""
    groups: dict[str, list[RecipientRow]] = {}
    for row in rows:
        groups.setdefault(row.station, []).append(row)
    return sorted(groups.items())


def _channels_shown(alert: Alert, counts: AlertCounts) -> list[tuple[str, dict[str, int]]]:
    """The alert's channels, and any other that carried some of its messages."""
    return [
        (name, states)
        for name, states in sorted(counts.channels.items())
        if name in alert.channels or any(states.values())
    ]


def _help_json(row: RecipientRow) -> dict[str, Any]:
    return {
        "person_id": row.person_id,
        "name": row.name,
        "station": row.station,
        "phone": row.phone,
        "latest_text": row.latest_text,
        "acknowledged_at": row.acknowledged_at,
    }


ROUTES: list[BaseRoute] = [
    Route("/alerts/{alert_id}", alert_page, methods=["GET"]),
    Route("/alerts/{alert_id}/live", alert_live, methods=["GET"]),
    Route("/alerts/{alert_id}/cancel", confirm_page, methods=["GET"]),
    Route("/alerts/{alert_id}/cancel", confirm, methods=["POST"]),
    Route("/alerts/{alert_id}/close", confirm_page, methods=["GET"]),
    Route("/alerts/{alert_id}/close", confirm, methods=["POST"]),
    Route("/alerts/{alert_id}/send", confirm_page, methods=["GET"]),
    Route("/alerts/{alert_id}/send", confirm, methods=["POST"]),
]
"""The alert page's routes, listed in `notifier.console.pages.ROUTES`."""
