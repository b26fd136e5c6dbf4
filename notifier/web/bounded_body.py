"""Request bodies read within a limit: what the app reads is counted, and refused past it.

`BodyLimit` wraps the ASGI `receive` of every request, with the limit of the first prefix
its path starts with (the API's JSON, the console's raise form), else the default (small
forms: webhooks, sign-in, acknowledgements). Nothing is read until a route asks for
the body, so the token, role and signature checks that come first see no byte of it. When a
route does read it:

- a `Content-Length` over the limit is refused at the first read, before a byte is received;
- a body sent without one (chunked) is counted as it arrives and refused once it passes the
  limit, so at most the limit (plus one chunk) is ever held;

both by raising `BodyTooLargeError`, which the app answers with 413. A response sent before
the body was read whole (a 401, 403 or 413) carries `Connection: close`: the server then
closes the connection instead of reading the rest of the body to reuse it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
"""Paths whose bodies are JSON requests (`http.max_body_bytes`)."""
_LONGEST_LENGTH = 18  # digits of a Content-Length read as a number; longer is over any limit


class BodyTooLargeError(Exception):
    """The request's body is larger than the route accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: bodies of paths under each prefix are read up to its limit, others up
    to `default_bytes`."""

    def __init__(
        self, app: ASGIApp, *, default_bytes: int, by_prefix: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.by_prefix = tuple(by_prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        limit = next(
            (size for prefix, size in self.by_prefix if path.startswith(prefix)),
            self.default_bytes,
        )
        body = CountedBody(scope, receive, limit)

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.complete:
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, body.receive, send_closing)


class CountedBody:
    """One request's `receive`, refusing a body over `limit` bytes; `complete` once read whole."""

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._read = 0
        headers = {name.lower(): value for name, value in scope.get("headers", ())}
        self._declared = _declared_length(headers.get(b"content-length"))
        chunked = b"transfer-encoding" in headers
        self.complete = not chunked and not self._declared

    async def receive(self) -> Message:
        """The next message of the request, or BodyTooLargeError if its body passes the limit."""
        if self._declared is not None and self._declared > self._limit:
            raise BodyTooLargeError(self._limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self._read += len(message.get("body", b""))
            if self._read > self._limit:
                raise BodyTooLargeError(self._limit)
            if not message.get("more_body", False):
                self.complete = True
        return message


def _declared_length(value: bytes | None) -> int | None:
    """The Content-Length as a number (None when absent or not digits; the server checks it)."""
    if value is None or not value.isdigit():
        return None
    digits = value.lstrip(b"0") or b"0"
    return int(digits) if len(digits) <= _LONGEST_LENGTH else sys.maxsize
