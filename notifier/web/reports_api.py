"""GET /api/v1/alerts/{id}/report: an alert's report as JSON, CSV, HTML or PNG."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifier.errors import FieldError
from notifier.report_output import RenderedReport, ReportFormat, render
from notifier.reports import alert_report as figures
from notifier.store import alerts
from notifier.store.engine import Database
from notifier.store.report_data import failed_messages, message_costs, recipient_facts
from notifier.web.api import _alert_id, _principal

API_FORMATS = (ReportFormat.JSON, ReportFormat.CSV, ReportFormat.HTML, ReportFormat.PNG)


async def alert_report(request: Request) -> Response:
    """GET /api/v1/alerts/{id}/report[?format=json|csv|html|png]: JSON unless asked otherwise.

    Another station's alert is as absent as one never raised (404). The figures are computed
    and drawn in a worker thread, so that a large alert holds up no other request.
    """
    principal = await _principal(request)
    format_ = _format(request.query_params.get("format"))
    database: Database = request.app.state.database
    async with database.session(read_only=True) as session:
        alert = await alerts.get_alert(session, _alert_id(request), principal)
        assert alert.id is not None
        recipients = await recipient_facts(session, alert.id)
        failed = await failed_messages(session, alert.id)
        costs = await message_costs(session, alert.id, request.app.state.settings.costs.currency)

    def figures_and_render() -> RenderedReport:
        report = figures(alert.created_at, recipients, failed, costs)
        return render(alert, report, format_)

    rendered = await asyncio.to_thread(figures_and_render)
    headers = {}
    if format_ is ReportFormat.CSV:
        headers["Content-Disposition"] = f'attachment; filename="alert-{alert.id}.csv"'
    return Response(rendered.content, media_type=rendered.media_type, headers=headers)


def _format(value: str | None) -> ReportFormat:
    if value is None or value == "":
        return ReportFormat.JSON
    for format_ in API_FORMATS:
        if value.lower() == format_.value:
            return format_
    choices = ", ".join(format_.value for format_ in API_FORMATS)
    raise FieldError("format", f"expected one of {choices}, got {value!r}")


ROUTES = [Route("/api/v1/alerts/{alert_id}/report", alert_report, methods=["GET"])]
