"""GET /api/v1/audit: the audit log for admins, as pages of JSON or as one streamed CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from notifier.access import Action
from notifier.audit_rows import csv_header, csv_rows, entry_json, parse_since
from notifier.errors import FieldError, ForbiddenError
from notifier.store import audit
from notifier.store.engine import Database
from notifier.web.api import _bounded_int, _database, _principal

PAGE_LIMIT = 1000
"""The most entries one page of JSON holds."""
LARGEST_ID = 2**63 - 1
FORMATS = ("json", "csv")


async def audit_log(request: Request) -> Response:
    """GET /api/v1/audit[?since=YYYY-MM-DD][&format=csv][&limit=100][&after=ID]: oldest first.

    JSON: a page of `limit` entries (1 to 1000, default 100) after the entry `after` (the `id`
    of the last entry of the previous page). CSV: every entry from `since` on, streamed, as
    `notifier audit export` writes it. Admins only: any other role is refused with 403.
    """
    principal = await _principal(request)
    if not principal.may(Action.ADMINISTER):
        raise ForbiddenError(f"{principal.name} may not read the audit log")
    query = request.query_params
    raw_since = query.get("since") or None
    since = None if raw_since is None else parse_since(raw_since)
    database = _database(request)
    # Checked in either format: a CSV export does not page, but a bad page is still refused.
    limit = _bounded_int(query.get("limit"), "limit", 100, 1, PAGE_LIMIT)
    after_id = query.get("after") or None
    entry_id = None if after_id is None else _bounded_int(after_id, "after", 0, 1, LARGEST_ID)
    if _format(query.get("format")) == "csv":
        name = "audit.csv" if raw_since is None else f"audit-since-{raw_since}.csv"
        return StreamingResponse(
            _csv(database, since),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    async with database.session(read_only=True) as session:
        after = None
        if entry_id is not None:
            after = await audit.position_of(session, entry_id)
            if after is None:
                raise FieldError("after", f"no audit entry has id {entry_id}")
        entries = await audit.read_entries(session, since=since, after=after, limit=limit)
    return JSONResponse([entry_json(entry) for entry in entries])


async def _csv(database: Database, since: datetime | None) -> AsyncIterator[bytes]:
    yield csv_header().encode()
    async for batch in audit.stream_entries(database, since=since):
        yield csv_rows(batch).encode()


def _format(value: str | None) -> str:
    if value is None or value == "" or value.lower() in FORMATS:
        return (value or "json").lower()
    raise FieldError("format", f"expected one of {', '.join(FORMATS)}, got {value!r}")


ROUTES = [Route("/api/v1/audit", audit_log, methods=["GET"])]
