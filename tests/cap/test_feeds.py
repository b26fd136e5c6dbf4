"""The entries of CAP feeds: Atom and RSS linking to or holding CAP documents, or CAP alone."""

from __future__ import annotations

import pytest

from notifier.cap.feeds import MAX_FEED_BYTES, feed_entries
from notifier.cap.reading import read_cap
from notifier.cap.xml_safety import CapError
from tests.cap_stations import example

FEED_URL = "https://warnings.example.org/cap/feed.atom"


def atom(*entries: str) -> bytes:
    """An Atom feed of these entries."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Warnings</title>'
        "<id>urn:feed</id><updated>2026-12-03T10:00:00Z</updated>" + "".join(entries) + "</feed>"
    ).encode()


def atom_entry(identity: str, updated: str, links: str = "", content: str = "") -> str:
    """An Atom entry with these links and content."""
    return (
        f"<entry><id>{identity}</id><title>Warning</title><updated>{updated}</updated>"
        f"{links}{content}</entry>"
    )


def test_an_atom_entry_is_read_through_its_link_typed_as_cap() -> None:
    links = (
        '<link rel="alternate" type="text/html" href="https://warnings.example.org/1.html"/>'
        '<link rel="related" type="application/cap+xml" href="/cap/1.xml"/>'
    )
    [entry] = feed_entries(atom(atom_entry("urn:1", "2026-12-03T10:00:00Z", links)), FEED_URL)
    assert entry.url == "https://warnings.example.org/cap/1.xml"  # relative, resolved
    assert entry.label == "urn:1"
    assert entry.document is None
    assert entry.fetchable


def test_without_a_typed_link_the_alternate_one_serves() -> None:
    links = '<link rel="self" href="https://x.example/self"/><link href="2.xml"/>'
    [entry] = feed_entries(atom(atom_entry("urn:2", "2026-12-03T10:00:00Z", links)), FEED_URL)
    assert entry.url == "https://warnings.example.org/cap/2.xml"


def test_an_entry_holding_the_alert_gives_it_as_a_document_of_its_own() -> None:
    held = example("EarthquakeReport").split(b"?>", 1)[1].decode()
    content = f'<content type="application/cap+xml">{held}</content>'
    [entry] = feed_entries(atom(atom_entry("urn:3", "2026-12-03T10:00:00Z", "", content)), FEED_URL)
    assert entry.document is not None
    assert read_cap(entry.document).identifier == "TRI13970876.2"


def test_an_entry_updated_is_a_new_entry_and_an_unchanged_one_keeps_its_key() -> None:
    first = feed_entries(atom(atom_entry("urn:4", "2026-12-03T10:00:00Z")), FEED_URL)
    again = feed_entries(atom(atom_entry("urn:4", "2026-12-03T10:00:00Z")), FEED_URL)
    updated = feed_entries(atom(atom_entry("urn:4", "2026-12-03T11:00:00Z")), FEED_URL)
    other = feed_entries(atom(atom_entry("urn:5", "2026-12-03T10:00:00Z")), FEED_URL)
    assert first[0].key == again[0].key
    assert len({first[0].key, updated[0].key, other[0].key}) == 3


def test_rss_items_are_read_through_a_cap_enclosure_else_their_link() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Warnings</title>'
        b"<item><guid>w-1</guid><link>https://warnings.example.org/1.html</link>"
        b'<enclosure url="https://warnings.example.org/1.cap" type="application/cap+xml"'
        b' length="1"/><pubDate>Thu, 03 Dec 2026 10:00:00 GMT</pubDate></item>'
        b"<item><link>/cap/2.xml</link></item>"
        b"<item><link>ftp://warnings.example.org/3.xml</link></item>"
        b"</channel></rss>"
    )
    first, second, third = feed_entries(rss, FEED_URL)
    assert (first.url, first.label) == ("https://warnings.example.org/1.cap", "w-1")
    assert second.url == "https://warnings.example.org/cap/2.xml"
    assert second.label == second.url  # no guid: the link names it
    assert not third.fetchable


def test_a_cap_document_alone_is_its_own_one_entry() -> None:
    document = example("AmberAlert")
    [entry] = feed_entries(document, "https://warnings.example.org/latest.xml")
    assert entry.document == document
    assert entry.label == "https://warnings.example.org/latest.xml"
    changed = feed_entries(document.replace(b"KAR0-0306112239", b"KAR0-0306112240"), FEED_URL)
    assert changed[0].key != entry.key


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"<html><body>Maintenance</body></html>", "its root element is html"),
        (b"{ not xml }", "not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaa">]>'
            b'<feed xmlns="http://www.w3.org/2005/Atom">&a;</feed>',
            "DOCTYPE",
        ),
        (b"<rss>" + b" " * MAX_FEED_BYTES + b"</rss>", "more than the 8388608 allowed"),
    ],
    ids=["not-a-feed", "not-xml", "doctype", "too-large"],
)
def test_what_is_no_feed_is_refused_saying_why(data: bytes, problem: str) -> None:
    with pytest.raises(CapError, match=problem):
        feed_entries(data, FEED_URL)
