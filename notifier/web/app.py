"""The Starlette application and its routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifier.channel_health import ChannelHealth
from notifier.clock import Clock, SystemClock
from notifier.console import pages as console
from notifier.console.raise_pages import RAISE_PATH
from notifier.domain import Channel
from notifier.inbound.answer_intake import AnswerIntake
from notifier.messages import Templates, load_templates, templates_location
from notifier.settings import Settings
from notifier.store.engine import Database
from notifier.store.outage import describe
from notifier.web import (
    ack_pages,
    api,
    audit_api,
    cap_api,
    drills_api,
    inbound_sms,
    openapi,
    preview_api,
    reports_api,
    stations_api,
    voice_webhooks,
)
from notifier.web.bounded_body import API_PREFIX, BodyLimit
from notifier.web.errors import EXCEPTION_HANDLERS
from notifier.web.failures import LogFailures
from notifier.web.metrics import SendMetrics
from notifier.web.metrics import metrics as metrics_route
from notifier.web.webhooks import twilio_status

HEALTH_TIMEOUT_SECONDS = 3.0

log = structlog.get_logger(__name__)


def create_app(
    database: Database,
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    wake_dispatcher: Callable[[], None] = lambda: None,
    wake_senders: Callable[[Channel], None] | None = None,
    metrics: SendMetrics | None = None,
    templates: Templates | None = None,
    channel_health: ChannelHealth | None = None,
    answers: AnswerIntake | None = None,
) -> Starlette:
    """The application, bound to its database and configuration. `wake_dispatcher` is told of
    alerts to send, `wake_senders` (by default the same) of deliveries queued ready to send on
    a channel."""
    settings = settings or Settings()
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/webhooks/twilio/status", twilio_status, methods=["POST"]),
        *inbound_sms.ROUTES,
        *voice_webhooks.ROUTES,
        *ack_pages.ROUTES,
        *preview_api.ROUTES,
        *api.ROUTES,
        *reports_api.ROUTES,
        *drills_api.ROUTES,
        *stations_api.ROUTES,
        *audit_api.ROUTES,
        *cap_api.ROUTES,
        *openapi.ROUTES,
        *console.ROUTES,
    ]
    limits = Middleware(
        BodyLimit,
        default_bytes=settings.http.max_form_bytes,
        by_prefix=(
            (cap_api.IMPORT_PATH, cap_api.IMPORT_LIMIT),
            (API_PREFIX, settings.http.max_body_bytes),
            (RAISE_PATH, settings.console.max_form_bytes),
        ),
    )
    # Outermost the body limit, so that even a 500 sent before the body was read closes.
    middleware = [limits, Middleware(LogFailures)]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS)
    app.state.database = database
    app.state.settings = settings
    app.state.templates = templates or load_templates(
        templates_location(settings.messages.templates_dir)
    )
    app.state.clock = clock or SystemClock()
    app.state.answers = answers or AnswerIntake(database, app.state.templates, app.state.clock)
    app.state.wake_dispatcher = wake_dispatcher
    app.state.wake_senders = wake_senders or (lambda _channel: wake_dispatcher())
    app.state.metrics = metrics or SendMetrics()
    app.state.channel_health = channel_health or ChannelHealth()
    return app


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise: what a load balancer and Docker check.

    Within `HEALTH_TIMEOUT_SECONDS`, however the database fails: a server that went away
    without a word must not leave the probe hanging. Each channel's state is told too
    (`notifier.channel_health`), but never decides the status: a mail relay that is down is
    no reason for a load balancer to stop the daemon, which still sends on the other channel.
    """
    database: Database = request.app.state.database
    health: ChannelHealth = request.app.state.channel_health
    channels = {channel.value: status.as_json() for channel, status in health.snapshot().items()}
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means unhealthy; the reason goes to the log
        log.warning("health_check_failed", error=describe(error))
        body = {"status": "error", "database": "unreachable", "channels": channels}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "channels": channels})
