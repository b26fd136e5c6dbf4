"""Inbound SMS from Twilio: replies to alerts, and the carrier keywords STOP, START and HELP."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
