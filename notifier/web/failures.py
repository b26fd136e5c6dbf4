"""Requests that fail unexpectedly: logged once with the traceback, answered with a JSON 500."""

from __future__ import annotations

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifier.web.errors import error_response

log = structlog.get_logger(__name__)

ACK_PREFIX = "/ack/"


class LogFailures:
    """ASGI middleware: an exception no handler answered becomes a logged 500 in the API's shape.

    Starlette's own last resort answers in plain text and raises again, for the server to log
    a second time; this one logs `http_request_failed` with the traceback and stops there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:  # the client left while sending the body: nobody to answer
            log.info("http_client_disconnected", path=loggable_path(scope))
        except Exception:  # the boundary of a request: log it, answer 500, serve the next one
            log.exception("http_request_failed", path=loggable_path(scope))
            if not started:
                response = error_response(
                    500, "internal_error", "the request failed; the error has been logged"
                )
                await response(scope, receive, send)


def loggable_path(scope: Scope) -> str:
    """The request's path, without an acknowledgement token (the link is the key)."""
    path = str(scope["path"])
    return ACK_PREFIX + "{token}" if path.startswith(ACK_PREFIX) else path
