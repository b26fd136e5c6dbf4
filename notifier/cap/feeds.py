"""The entries of a CAP feed (pure): Atom or RSS whose entries link to or hold CAP documents.

What the publishers of warnings put out:

- an **Atom** feed (RFC 4287) whose entries each link to one CAP document, the link typed
  `application/cap+xml` when the publisher says so, else the entry's `alternate` link; or
  whose entries hold the CAP `alert` itself in their content;
- an **RSS 2.0** feed whose items do the same, through an `enclosure` typed as CAP, else the
  item's `link`;
- a **CAP document** served at a URL of its own, which is then its own one entry.

An entry is known across polls by its `key`: its id (Atom `id`, RSS `guid`, else its link)
and its update time (Atom `updated`, RSS `pubDate`), so an entry the publisher updates is
read again. A document served alone is known by its URL and its digest. Relative links are resolved
against the feed's URL; links other than http(s) are kept, to be refused with a reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urljoin, urlsplit

from lxml import etree

from notifier.cap.message import CAP_MEDIA_TYPE, CAP_NAMESPACE
from notifier.cap.xml_safety import CapError, parse_xml

MAX_FEED_BYTES: Final = 8 * 1024 * 1024
"""The largest feed read: a national feed lists a few hundred warnings in a few megabytes."""
MAX_ENTRIES: Final = 1000
"""The most entries read from one feed; the first ones, as feeds list the newest first."""

ATOM_NAMESPACE: Final = "http://www.w3.org/2005/Atom"
_ATOM_FEED = f"{{{ATOM_NAMESPACE}}}feed"
_CAP_ALERT = f"{{{CAP_NAMESPACE}}}alert"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of a feed: its `key` across polls, a `label` for people (its id or link),
    and where its CAP document is: at `url`, or held in the feed as `document`. An entry
    with neither has nothing to import."""

    key: str
    label: str
    url: str | None = None
    document: bytes | None = None

    @property
    def fetchable(self) -> bool:
        """Whether its URL is one the notifier reads (http or https)."""
        return self.url is not None and urlsplit(self.url).scheme in ("http", "https")


def feed_entries(data: bytes, base_url: str) -> list[FeedEntry]:
    """The entries of a feed or a lone CAP document fetched from `base_url`; CapError when it
    is not well-formed XML, or neither Atom, RSS 2.0 nor CAP."""
    root = parse_xml(data, MAX_FEED_BYTES)
    if root.tag == _CAP_ALERT:
        digest = hashlib.sha256(data).hexdigest()
        return [FeedEntry(key=entry_key(base_url, digest), label=base_url, document=data)]
    if root.tag == _ATOM_FEED:
        entries = _atom_entries(root, base_url)
    elif root.tag == "rss":
        entries = _rss_items(root, base_url)
    else:
        raise CapError(
            "not an Atom or RSS 2.0 feed, nor a CAP 1.2 document: its root element is "
            f"{etree.QName(root).text}"
        )
    return [entry for _, entry in zip(range(MAX_ENTRIES), entries, strict=False)]


def entry_key(identity: str, updated: str) -> str:
    """The key of an entry: a digest of its id and update time (both unbounded texts)."""
    return hashlib.sha256(f"{identity}\n{updated}".encode()).hexdigest()


def _atom_entries(feed: etree._Element, base_url: str) -> Iterator[FeedEntry]:
    for entry in feed.iterfind(f"{{{ATOM_NAMESPACE}}}entry"):
        url = _atom_link(entry, base_url)
        identity = _text(entry, f"{{{ATOM_NAMESPACE}}}id") or url or ""
        updated = _text(entry, f"{{{ATOM_NAMESPACE}}}updated")
        yield FeedEntry(
            key=entry_key(identity, updated),
            label=identity or "an entry without id or link",
            url=url,
            document=_held_alert(entry),
        )


def _atom_link(entry: etree._Element, base_url: str) -> str | None:
    """The link typed as CAP, else the alternate one (a link without `rel` is alternate)."""
    links = [
        link
        for link in entry.iterfind(f"{{{ATOM_NAMESPACE}}}link")
        if (link.get("href") or "").strip()
    ]
    typed = [link for link in links if _is_cap_type(link.get("type"))]
    alternate = [link for link in links if link.get("rel", "alternate") == "alternate"]
    chosen = next(iter(typed or alternate), None)
    return None if chosen is None else urljoin(base_url, (chosen.get("href") or "").strip())


def _rss_items(rss: etree._Element, base_url: str) -> Iterator[FeedEntry]:
    for item in rss.iterfind("channel/item"):
        enclosures = [
            enclosure.get("url", "").strip()
            for enclosure in item.iterfind("enclosure")
            if _is_cap_type(enclosure.get("type"))
        ]
        link = next((url for url in enclosures if url), "") or _text(item, "link")
        url = urljoin(base_url, link) if link else None
        identity = _text(item, "guid") or url or ""
        yield FeedEntry(
            key=entry_key(identity, _text(item, "pubDate")),
            label=identity or "an item without guid or link",
            url=url,
            document=_held_alert(item),
        )


def _held_alert(entry: etree._Element) -> bytes | None:
    """The CAP `alert` an entry holds in itself, as a document of its own, if it holds one."""
    alert = next(entry.iter(_CAP_ALERT), None)
    return None if alert is None else etree.tostring(alert, encoding="utf-8")


def _is_cap_type(media_type: str | None) -> bool:
    return (media_type or "").split(";")[0].strip().lower() == CAP_MEDIA_TYPE


def _text(element: etree._Element, path: str) -> str:
    found = element.find(path)
    return "" if found is None or found.text is None else found.text.strip()
