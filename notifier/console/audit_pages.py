"""The console's audit log, for admins: the latest entries newest first, and the CSV export.

`GET /audit.csv[?since=YYYY-MM-DD]` streams the same CSV as `GET /api/v1/audit?format=csv`
(oldest first, from `notifier.audit_rows`), to a signed-in admin; anyone else gets the 403
page, and a browser without a session goes to the sign-in form.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from notifier.access import Action
from notifier.audit_rows import csv_header, csv_rows, details_text, parse_since
from notifier.console import responding
from notifier.console.signin import SignedIn, signed_in
from notifier.errors import FieldError
from notifier.store import audit
from notifier.store.audit_latest import latest_entries
from notifier.store.engine import Database

PAGE_LIMIT = 200
"""The entries the page shows: the latest, newest first."""


async def audit_page(request: Request) -> Response:
    """GET /audit: the latest entries, newest first, with the form to download the CSV."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    if not user.principal.may(Action.ADMINISTER):
        return responding.render(
            request, "refused.html", status=403, **responding.user_context(user)
        )
    return await _page(request, user)


async def audit_csv(request: Request) -> Response:
    """GET /audit.csv[?since=YYYY-MM-DD]: the whole log from `since` on as CSV, streamed."""
    user = await signed_in(request)
    if user is None:
        return responding.to_login(request)
    if not user.principal.may(Action.ADMINISTER):
        return responding.render(
            request, "refused.html", status=403, **responding.user_context(user)
        )
    raw_since = request.query_params.get("since") or None
    try:
        since = None if raw_since is None else parse_since(raw_since)
    except FieldError as error:
        return await _page(request, user, problem=str(error), status=400)
    name = "audit.csv" if raw_since is None else f"audit-since-{raw_since}.csv"
    return StreamingResponse(
        _csv(responding.database(request), since),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            **responding.HEADERS,
        },
    )


async def _page(request: Request, user: SignedIn, problem: str = "", status: int = 200) -> Response:
    async with responding.database(request).session(read_only=True) as session:
        entries = await latest_entries(session, PAGE_LIMIT)
    rows = [
        {
            "entry": entry,
            "at": entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "details": details_text(entry.details),
        }
        for entry in entries
    ]
    return responding.render(
        request,
        "audit.html",
        status=status,
        rows=rows,
        limit=PAGE_LIMIT,
        problem=problem,
        **responding.user_context(user),
    )


async def _csv(database: Database, since: datetime | None) -> AsyncIterator[bytes]:
    yield csv_header().encode()
    async for batch in audit.stream_entries(database, since=since):
        yield csv_rows(batch).encode()


def _refused(request: Request, user: SignedIn) -> Response:
    """The 403 page: the audit log is for admins."""
    return responding.render(request, "refused.html", status=403, **responding.user_context(user))


ROUTES: list[BaseRoute] = [
    Route("/audit", audit_page, methods=["GET"]),
    Route("/audit.csv", audit_csv, methods=["GET"]),
]
