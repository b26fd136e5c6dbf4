"""The acknowledgement page behind an e-mail's link: GET shows the buttons, POST records."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
