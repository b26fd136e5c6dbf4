"""HTTP GET of CAP feeds and documents: conditional, bounded in size and time, never trusted.

A feed is asked for with the validators of its last answer (`If-None-Match` with its ETag,
`If-Modified-Since` with its Last-Modified), so an unchanged feed answers 304 with no body.
Every answer is read within `limit` bytes (after any decompression, so a compressed bomb
stops there too) and the whole request within `TIMEOUT`; redirects are followed up to
`MAX_REDIRECTS`. What fails is a `FetchError` that says whether trying again later may help.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

import aiohttp

from notifier.cap.message import CAP_MEDIA_TYPE

TIMEOUT: Final = aiohttp.ClientTimeout(total=30, connect=10, sock_read=15)
MAX_REDIRECTS: Final = 5
USER_AGENT: Final = "notifier-cap-feeds/1"
ACCEPT: Final = (
    f"application/atom+xml, application/rss+xml, {CAP_MEDIA_TYPE}, application/xml;q=0.9, */*;q=0.1"
)
_CHUNK = 65_536


class FetchError(Exception):
    """A URL could not be read; `transient` when a later try may succeed (network, 5xx, 429)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Fetched:
    """An answer: its body (empty when `unchanged`, a 304) and its validators."""

    body: bytes
    etag: str | None
    last_modified: str | None
    unchanged: bool = False


def http_session() -> aiohttp.ClientSession:
    """The HTTP client of the feeds: its own connections, the timeouts above."""
    return aiohttp.ClientSession(
        timeout=TIMEOUT, headers={"User-Agent": USER_AGENT, "Accept": ACCEPT}
    )


async def fetch(
    http: aiohttp.ClientSession,
    url: str,
    limit: int,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """GET `url`, conditionally if validators are given; FetchError when it fails."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with http.get(url, headers=headers, max_redirects=MAX_REDIRECTS) as response:
            validators = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
            if response.status == HTTPStatus.NOT_MODIFIED:
                return Fetched(b"", etag or validators[0], last_modified or validators[1], True)
            if response.status != HTTPStatus.OK:
                raise FetchError(
                    f"HTTP {response.status} {response.reason or ''}".rstrip(),
                    transient=_may_pass(response.status),
                )
            body = await _bounded_body(response, limit)
            return Fetched(body, *validators)
    except aiohttp.TooManyRedirects:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects", transient=False) from None
    except aiohttp.InvalidURL as error:
        raise FetchError(f"not a URL that can be read: {error}", transient=False) from None
    except (aiohttp.ClientError, TimeoutError) as error:
        reason = str(error) or type(error).__name__
        raise FetchError(f"could not be read: {reason}", transient=True) from None


def _may_pass(status: int) -> bool:
    """Whether an HTTP failure may pass: the server's (5xx), or a timeout or throttling."""
    return status >= HTTPStatus.INTERNAL_SERVER_ERROR or status in (
        HTTPStatus.REQUEST_TIMEOUT,
        HTTPStatus.TOO_EARLY,
        HTTPStatus.TOO_MANY_REQUESTS,
    )


async def _bounded_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > limit:
        raise FetchError(
            f"the answer is {declared} bytes, more than the {limit} allowed", transient=False
        )
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise FetchError(f"the answer is more than the {limit} bytes allowed", transient=False)
    return bytes(body)
