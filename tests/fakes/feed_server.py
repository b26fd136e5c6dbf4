"""A web server on loopback publishing CAP feeds and documents, as a warning authority does.

Each path serves bytes set by the test, with an ETag (a digest of the bytes) and a
Last-Modified, and answers a conditional GET whose validators still hold with 304, as real
servers do. A path may be made to fail with a status for its next requests. Every request
is counted, with its status, so a test can tell what was read and what was not.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import TracebackType
from typing import Self

from aiohttp import web


@dataclass(slots=True)
class Published:
    """What a path serves: its bytes, type and validators (either may be left out)."""

    body: bytes
    content_type: str
    modified: datetime
    etag: bool = True
    last_modified: bool = True

    @property
    def tag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


class FeedServer:
    """Serves what `publish` set at `url(path)`; counts each (path, status) answered."""

    def __init__(self) -> None:
        self.published: dict[str, Published] = {}
        self.failing: dict[str, list[int]] = {}
        self.endless: set[str] = set()
        self.answers: Counter[tuple[str, int]] = Counter()
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        """The absolute URL of a path of this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def publish(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/atom+xml",
        *,
        etag: bool = True,
        last_modified: bool = True,
    ) -> None:
        """Serve `body` at `path` from now on, modified now (a second later than before)."""
        earlier = self.published.get(path)
        modified = datetime.now(UTC).replace(microsecond=0)
        if earlier is not None and modified <= earlier.modified:
            modified = earlier.modified + timedelta(seconds=1)
        self.published[path] = Published(body, content_type, modified, etag, last_modified)

    def publish_endless(self, path: str) -> None:
        """Serve at `path` an answer that never ends, without a Content-Length."""
        self.endless.add(path)

    def fail(self, path: str, *statuses: int) -> None:
        """Answer the next requests for `path` with these statuses, one each, in order."""
        self.failing[path] = list(statuses)

    def reads(self, path: str) -> int:
        """How many times `path` was answered with its body (200)."""
        return self.answers[(path, 200)]

    def not_modified(self, path: str) -> int:
        """How many times `path` was answered 304."""
        return self.answers[(path, 304)]

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        failing = self.failing.get(path)
        if failing:
            status = failing.pop(0)
            self.answers[(path, status)] += 1
            return web.Response(status=status, text="unavailable")
        if path in self.endless:
            return await _endless(request)
        published = self.published.get(path)
        if published is None:
            self.answers[(path, 404)] += 1
            return web.Response(status=404, text="not found")
        headers = {}
        if published.etag:
            headers["ETag"] = published.tag
        if published.last_modified:
            headers["Last-Modified"] = format_datetime(published.modified, usegmt=True)
        if _still_valid(request, published):
            self.answers[(path, 304)] += 1
            return web.Response(status=304, headers=headers)
        self.answers[(path, 200)] += 1
        return web.Response(
            body=published.body, headers=headers | {"Content-Type": published.content_type}
        )

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _still_valid(request: web.Request, published: Published) -> bool:
    """Whether a conditional request's validators match what is published (RFC 9110 13.1)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return published.etag and published.tag in (t.strip() for t in if_none_match.split(","))
    since = request.if_modified_since
    return published.last_modified and since is not None and published.modified <= since


async def _endless(request: web.Request) -> web.StreamResponse:
    """An XML answer, chunked, that goes on until the client stops reading."""
    response = web.StreamResponse(headers={"Content-Type": "application/atom+xml"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b'<feed xmlns="http://www.w3.org/2005/Atom">')
    chunk = b"<entry><id>urn:x</id></entry>" * 2000
    with contextlib.suppress(ConnectionError):
        while True:
            await response.write(chunk)
    return response
