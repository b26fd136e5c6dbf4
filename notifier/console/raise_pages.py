"""The console's raising of an alert: the form, its preview, and the alert raised.

The form's values are parsed by the API's own `parse_alert_request`, previewed by the same
`preview_alert` as POST /api/v1/alerts/preview, and raised by the same `create_alert` as
POST /api/v1/alerts, so roles, stations and every field are checked by the same code. A bad
field shows the form again with the error beside it (422), its values kept; a station the
principal may not alert is refused (403) as the API refuses it. An emergency is raised only
with the preview page's box `confirm_emergency` ticked: without it the preview comes back.
The preview page's one-time `submission` makes sending it twice (a double tap, a retry after
a lost answer) lead to the one alert it raised.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from notifier.access import Action
from notifier.alert_preview import preview_alert
from notifier.alert_request import AlertRequest, parse_alert_request
from notifier.console import responding
from notifier.console.preview_figures import preview_figures
from notifier.console.raise_form import (
    CONFIRM_EMERGENCY,
    CONFIRMED,
    RaiseForm,
    blank_form,
    new_submission,
    submission_of,
)
from notifier.console.signin import SignedIn, signed_in
from notifier.domain import AlertKind
from notifier.errors import FieldError, ForbiddenError
from notifier.store import alerts
from notifier.store.readiness_data import list_stations
from notifier.web.bounded_body import BodyTooLargeError
from notifier.web.forms import read_form

RAISE_PATH = "/alerts/new"
"""The raise form's path, and the prefix of its preview's and edit's: its forms are read up
to `console.max_form_bytes`."""


async def raise_page(request: Request) -> Response:
    """GET /alerts/new: the raise form; 403 for those who may not raise."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    if not user.principal.may(Action.SEND):
        return _refused(request, user)
    return await _form(request, user, None)


async def edit_page(request: Request) -> Response:
    """POST /alerts/new/edit: the form again with the values the preview page posted."""
    user = await _raiser(request)
    if isinstance(user, Response):
        return user
    return await _form(request, user, RaiseForm.posted(await read_form(request)))


async def preview_page(request: Request) -> Response:
    """POST /alerts/new/preview: what raising the form's alert would send; nothing written."""
    user = await _raiser(request)
    if isinstance(user, Response):
        return user
    return await _previewed(request, user, RaiseForm.posted(await read_form(request)))


async def raise_alert(request: Request) -> Response:
    """POST /alerts/new: raise the alert as the API does, wake the dispatcher, 303 to its page."""
    user = await _raiser(request)
    if isinstance(user, Response):
        return user
    form = await read_form(request)
    values = RaiseForm.posted(form)
    try:
        alert_request = parse_alert_request(values.payload())
        submission = submission_of(form)
    except FieldError as error:
        return await _form(request, user, values, error)
    if alert_request.kind is AlertKind.EMERGENCY and form.first(CONFIRM_EMERGENCY) != CONFIRMED:
        return await _previewed(request, user, values, unconfirmed=True)
    try:
        alert_id = await _raise_once(request, alert_request, user, submission)
    except FieldError as error:
        return await _form(request, user, values, error)
    except ForbiddenError:
        return _refused(request, user)
    request.app.state.wake_dispatcher()
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


async def _raise_once(
    request: Request, alert_request: AlertRequest, user: SignedIn, submission: str | None
) -> int:
    """Raise the alert, unless the form of one-time value `submission` already raised one
    (sent twice, even at the same moment from two replicas): that alert's id then."""
    database = responding.database(request)
    if submission is not None:
        async with database.session(read_only=True) as session:
            raised = await alerts.alert_of_submission(session, submission)
        if raised is not None:
            return raised
    try:
        async with database.session() as session:
            alert = await alerts.create_alert(
                session, alert_request, user.principal, submission=submission
            )
            assert alert.id is not None, "a flushed alert has its id"
            return alert.id
    except IntegrityError:
        if submission is None:
            raise
        async with database.session(read_only=True) as session:
            raised = await alerts.alert_of_submission(session, submission)
        if raised is None:
            raise
        return raised


async def _previewed(
    request: Request, user: SignedIn, values: RaiseForm, *, unconfirmed: bool = False
) -> Response:
    """The preview page of `values` (422 when shown again for want of the confirmation)."""
    try:
        alert_request = parse_alert_request(values.payload())
        async with responding.database(request).session(read_only=True) as session:
            preview = await preview_alert(
                session,
                alert_request,
                user.principal,
                request.app.state.settings,
                request.app.state.templates,
            )
    except FieldError as error:
        return await _form(request, user, values, error)
    except ForbiddenError:
        return _refused(request, user)
    return responding.render(
        request,
        "preview.html",
        status=422 if unconfirmed else 200,
        **responding.user_context(user),
        values=values,
        preview=preview,
        figures=preview_figures(preview),
        emergency=alert_request.kind is AlertKind.EMERGENCY,
        unconfirmed=unconfirmed,
        submission=new_submission(),
    )


async def _form(
    request: Request,
    user: SignedIn,
    values: RaiseForm | None,
    error: FieldError | None = None,
    *,
    too_large: bool = False,
) -> Response:
    """The raise form with `values` (None: a blank form); with `error` beside its field, 422;
    413 when the form posted was over `console.max_form_bytes`."""
    async with responding.database(request).session(read_only=True) as session:
        stations = await list_stations(session, user.principal.scope_of(Action.SEND))
    if values is None:
        values = blank_form(tuple(station.code for station in stations))
    return responding.render(
        request,
        "raise.html",
        status=413 if too_large else 200 if error is None else 422,
        **responding.user_context(user),
        values=values,
        stations=stations,
        calls=bool(request.app.state.settings.voice.from_number),
        too_large=too_large,
        errors={} if error is None else {error.field: error.wording or error.reason},
    )


async def _raiser(request: Request) -> SignedIn | Response:
    """Who posted this raise form, signed in, with the session's CSRF value and the right to
    raise; else the answer to give (the sign-in redirect, a refusal, the too-large form)."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    refused = await _refusal(request, user)
    return user if refused is None else refused


async def _refusal(request: Request, user: SignedIn) -> Response | None:
    """403 without the session's CSRF value or the right to raise; 413 for too large a form."""
    try:
        refused = await responding.csrf_refusal(request, user)
    except BodyTooLargeError:  # nothing of it was read: a blank form says why
        if not user.principal.may(Action.SEND):
            return _refused(request, user)
        return await _form(request, user, None, too_large=True)
    if refused is None and not user.principal.may(Action.SEND):
        return _refused(request, user)
    return refused


def _refused(request: Request, user: SignedIn) -> Response:
    return responding.render(request, "refused.html", status=403, **responding.user_context(user))


ROUTES: list[BaseRoute] = [
    Route(RAISE_PATH, raise_page, methods=["GET"]),
    Route(RAISE_PATH, raise_alert, methods=["POST"]),
    Route(f"{RAISE_PATH}/preview", preview_page, methods=["POST"]),
    Route(f"{RAISE_PATH}/edit", edit_page, methods=["POST"]),
]
