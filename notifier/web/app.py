"""The Starlette application and its routes."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifier.store.engine import Database

HEALTH_TIMEOUT_SECONDS = 3.0

log = structlog.get_logger(__name__)


def create_app(database: Database) -> Starlette:
    """The application, bound to the database it serves."""
    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
    app.state.database = database
    return app


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise: what a load balancer and Docker check."""
    database: Database = request.app.state.database
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means unhealthy; the reason goes to the log
        log.warning("health_check_failed", error=str(error))
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
