"""CAP feeds polled from a web server on loopback, on SQLite and PostgreSQL: each new entry
imported once, an unchanged feed not read again, a broken document reported and skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from notifier.cap.xml_safety import MAX_DOCUMENT_BYTES
from notifier.cap_feed_poller import CapFeedPoller, FeedPoll, feed_principal
from notifier.cap_fetch import http_session
from notifier.domain import AlertStatus
from notifier.settings import CapFeed, Settings
from notifier.store.engine import Database
from notifier.store.scheduler_lock import OneProcessLock
from notifier.store.tables import ALERT, CAP_FEED, CAP_FEED_ENTRY
from tests.cap_stations import EXPECTED, SETTINGS, example, seed_cap_world
from tests.clock import HandClock
from tests.fakes.feed_server import FeedServer
from tests.web.wake import WakeCounter

FEED = "/warnings.atom"
BEFORE_THE_STORM_ENDS = datetime(2003, 6, 17, 22, 0, tzinfo=UTC)
"""The examples were sent in June 2003; the thunderstorm warning expires at 23:00 UTC."""


def atom(*entries: tuple[str, str]) -> bytes:
    """An Atom feed whose entries (id, link) each link to a CAP document."""
    listed = "".join(
        f"<entry><id>{identity}</id><title>{identity}</title>"
        "<updated>2003-06-17T21:57:00Z</updated>"
        f'<link type="application/cap+xml" href="{link}"/></entry>'
        for identity, link in entries
    )
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Warnings</title>'
        f"<id>urn:warnings</id><updated>2003-06-17T21:57:00Z</updated>{listed}</feed>"
    ).encode()


@dataclass(slots=True)
class Feeds:
    """The poller of one feed of `server`, its database, clock and wake-ups."""

    server: FeedServer
    database: Database
    clock: HandClock
    wakes: WakeCounter
    http: aiohttp.ClientSession
    feed: CapFeed
    settings: Settings

    def poller(self) -> CapFeedPoller:
        return CapFeedPoller(self.database, self.settings, self.clock, OneProcessLock(), self.wakes)

    async def poll(self) -> FeedPoll:
        """One poll of the feed."""
        return await self.poller().poll(self.http, self.feed)

    async def count(self, table: Any, *where: Any) -> int:
        async with self.database.session(read_only=True) as session:
            query = select(func.count()).select_from(table).where(*where)
            return int(await session.scalar(query) or 0)

    async def drafts(self) -> dict[str, list[str]]:
        """Each draft's title and stations."""
        async with self.database.session(read_only=True) as session:
            rows = await session.execute(
                select(ALERT.c.title, ALERT.c.audience).where(
                    ALERT.c.status == AlertStatus.DRAFT.value
                )
            )
            return {title: sorted(audience["scope"]) for title, audience in rows}


def with_feed(feed: CapFeed, **cap: Any) -> Settings:
    """The examples' settings with this feed (and any other `cap` settings)."""
    values = SETTINGS.model_dump(mode="json")
    values["cap"] |= {"feeds": [feed.model_dump(mode="json")]} | cap
    return Settings.model_validate(values)


@pytest.fixture
async def feeds(database: Database) -> AsyncIterator[Feeds]:
    await seed_cap_world(database)
    async with FeedServer() as server, http_session() as http:
        feed = CapFeed(url=server.url(FEED))
        yield Feeds(
            server,
            database,
            HandClock(BEFORE_THE_STORM_ENDS),
            WakeCounter(),
            http,
            feed,
            with_feed(feed),
        )


def publish_examples(server: FeedServer, *names: str) -> None:
    """Publish the specification's examples and a feed linking to them."""
    for name in names:
        server.publish(f"/cap/{name}.xml", example(name), "application/cap+xml")
    server.publish(FEED, atom(*((f"urn:{name}", f"/cap/{name}.xml") for name in names)))


async def test_new_entries_are_imported_once(feeds: Feeds) -> None:
    publish_examples(feeds.server, "ThunderstormWarning", "EarthquakeReport")
    first = await feeds.poll()
    assert [(label, o.outcome) for label, o in first.outcomes] == [
        ("urn:ThunderstormWarning", "draft"),
        ("urn:EarthquakeReport", "draft"),
    ]
    drafts = await feeds.drafts()
    assert sorted(drafts.values()) == sorted(
        [EXPECTED["ThunderstormWarning"], EXPECTED["EarthquakeReport"]]
    )
    # A third entry: it alone is read and imported; the first two are not read again.
    publish_examples(feeds.server, "ThunderstormWarning", "EarthquakeReport", "AmberAlert")
    second = await feeds.poll()
    assert [(label, o.outcome) for label, o in second.outcomes] == [("urn:AmberAlert", "draft")]
    assert feeds.server.reads("/cap/ThunderstormWarning.xml") == 1
    assert feeds.server.reads("/cap/EarthquakeReport.xml") == 1
    assert await feeds.count(ALERT) == 3
    assert EXPECTED["AmberAlert"] in (await feeds.drafts()).values()
    assert feeds.wakes.calls == 0  # drafts send nothing


async def test_an_unchanged_feed_is_not_read_again(feeds: Feeds) -> None:
    publish_examples(feeds.server, "EarthquakeReport")
    await feeds.poll()
    again = await feeds.poll()
    assert again.unchanged and again.outcomes == [] and again.error is None
    assert feeds.server.reads(FEED) == 1
    assert feeds.server.not_modified(FEED) == 1
    assert await feeds.count(ALERT) == 1


async def test_last_modified_alone_serves_as_validator(feeds: Feeds) -> None:
    feeds.server.publish("/cap/q.xml", example("EarthquakeReport"), "application/cap+xml")
    feeds.server.publish(FEED, atom(("urn:q", "/cap/q.xml")), etag=False)
    await feeds.poll()
    assert (await feeds.poll()).unchanged
    assert feeds.server.not_modified(FEED) == 1


async def test_the_same_message_in_another_entry_or_feed_makes_no_second_draft(
    feeds: Feeds,
) -> None:
    feeds.server.publish("/cap/a.xml", example("EarthquakeReport"), "application/cap+xml")
    feeds.server.publish("/cap/b.xml", example("EarthquakeReport"), "application/cap+xml")
    feeds.server.publish(FEED, atom(("urn:a", "/cap/a.xml"), ("urn:b", "/cap/b.xml")))
    poll = await feeds.poll()
    assert [o.outcome for _, o in poll.outcomes] == ["draft", "known"]
    assert poll.outcomes[0][1].alert_id == poll.outcomes[1][1].alert_id
    assert await feeds.count(ALERT) == 1


async def test_a_broken_document_is_reported_and_skipped(feeds: Feeds) -> None:
    server = feeds.server
    server.publish("/cap/quake.xml", example("EarthquakeReport"), "application/cap+xml")
    server.publish("/cap/not-xml.xml", b"<alert>unfinished", "application/cap+xml")
    invalid = example("AmberAlert").replace(b"<urgency>Immediate</urgency>", b"")
    server.publish("/cap/invalid.xml", invalid, "application/cap+xml")
    big = b"<alert>" + b" " * MAX_DOCUMENT_BYTES + b"</alert>"
    server.publish("/cap/big.xml", big, "application/cap+xml")
    entries = [
        ("urn:not-xml", "/cap/not-xml.xml"),
        ("urn:invalid", "/cap/invalid.xml"),
        ("urn:gone", "/cap/gone.xml"),
        ("urn:big", "/cap/big.xml"),
        ("urn:ftp", "ftp://127.0.0.1/cap/quake.xml"),
        ("urn:quake", "/cap/quake.xml"),
    ]
    server.publish(FEED, atom(*entries))
    with capture_logs() as logs:
        poll = await feeds.poll()
    outcomes = {label: outcome for label, outcome in poll.outcomes}
    assert outcomes["urn:quake"].outcome == "draft"
    refused = {label: o.detail for label, o in outcomes.items() if o.outcome == "refused"}
    assert set(refused) == {"urn:not-xml", "urn:invalid", "urn:gone", "urn:big", "urn:ftp"}
    assert "not well-formed XML" in refused["urn:not-xml"]
    assert "not valid CAP 1.2" in refused["urn:invalid"] and "urgency" in refused["urn:invalid"]
    assert "HTTP 404" in refused["urn:gone"]
    assert "more than the 1048576 allowed" in refused["urn:big"]
    assert "no http(s) link" in refused["urn:ftp"]
    reported = [e["entry"] for e in logs if e["event"] == "cap_feed_document_refused"]
    assert sorted(reported) == sorted(refused)
    assert poll.error is None and poll.deferred == 0
    assert await feeds.count(ALERT) == 1
    # Remembered: a changed feed does not have them read again.
    server.publish(FEED, atom(*entries, ("urn:amber", "/cap/amber.xml")))
    server.publish("/cap/amber.xml", example("AmberAlert"), "application/cap+xml")
    later = await feeds.poll()
    assert [label for label, _ in later.outcomes] == ["urn:amber"]
    assert server.reads("/cap/not-xml.xml") == 1 and server.reads("/cap/invalid.xml") == 1


async def test_a_document_whose_server_fails_is_tried_again_at_the_next_poll(
    feeds: Feeds,
) -> None:
    publish_examples(feeds.server, "EarthquakeReport")
    feeds.server.fail("/cap/EarthquakeReport.xml", 503)
    first = await feeds.poll()
    assert first.outcomes == [] and first.deferred == 1
    assert await feeds.count(CAP_FEED_ENTRY) == 0
    second = await feeds.poll()
    assert [o.outcome for _, o in second.outcomes] == ["draft"]
    assert feeds.server.reads(FEED) == 2  # its validators were not kept: read again in full
    assert (await feeds.poll()).unchanged


async def test_a_broken_feed_is_remembered_with_its_failures(feeds: Feeds) -> None:
    feeds.server.publish(FEED, b"<html>Service unavailable</html>", "text/html")
    first = await feeds.poll()
    assert first.error is not None and "its root element is html" in first.error
    feeds.server.fail(FEED, 500)
    second = await feeds.poll()
    assert second.error == "HTTP 500 Internal Server Error"
    async with feeds.database.session(read_only=True) as session:
        failures, error = (
            await session.execute(select(CAP_FEED.c.failures, CAP_FEED.c.error))
        ).one()
    assert (failures, error) == (2, "HTTP 500 Internal Server Error")
    publish_examples(feeds.server, "EarthquakeReport")
    assert [o.outcome for _, o in (await feeds.poll()).outcomes] == ["draft"]
    async with feeds.database.session(read_only=True) as session:
        failures, error = (
            await session.execute(select(CAP_FEED.c.failures, CAP_FEED.c.error))
        ).one()
    assert (failures, error) == (0, None)


async def test_expired_and_outside_messages_make_no_draft(feeds: Feeds) -> None:
    feeds.clock.at = datetime(2003, 6, 18, tzinfo=UTC)  # the thunderstorm warning has expired
    publish_examples(feeds.server, "ThunderstormWarning", "HomelandAlert")
    poll = await feeds.poll()
    assert {label: o.outcome for label, o in poll.outcomes} == {
        "urn:ThunderstormWarning": "expired",
        "urn:HomelandAlert": "outside",
    }
    assert await feeds.count(ALERT) == 0


async def test_a_feed_of_some_stations_drafts_for_them_only(feeds: Feeds) -> None:
    feeds.feed = CapFeed(url=feeds.server.url(FEED), stations=["lax"])
    feeds.settings = with_feed(feeds.feed)
    assert feed_principal(feeds.feed).stations == {"LAX"}
    publish_examples(feeds.server, "AmberAlert", "EarthquakeReport")
    poll = await feeds.poll()
    assert {label: o.outcome for label, o in poll.outcomes} == {
        "urn:AmberAlert": "draft",
        "urn:EarthquakeReport": "outside",
    }


async def test_a_rule_sends_at_once_and_wakes_the_dispatcher(feeds: Feeds) -> None:
    feeds.settings = with_feed(feeds.feed, rules=[{"severity": ["Severe"], "action": "send"}])
    publish_examples(feeds.server, "ThunderstormWarning")
    poll = await feeds.poll()
    [(_, outcome)] = poll.outcomes
    assert (outcome.outcome, outcome.detail) == ("sent", "rule 1 of cap.rules")
    assert feeds.wakes.calls == 1
    assert await feeds.count(ALERT, ALERT.c.status == AlertStatus.DRAFT.value) == 0


async def test_a_lone_cap_document_is_imported_once(feeds: Feeds) -> None:
    feeds.server.publish(
        FEED, example("EarthquakeReport"), "application/cap+xml", etag=False, last_modified=False
    )
    first = await feeds.poll()
    second = await feeds.poll()  # no validators: read again, known by its digest
    assert [o.outcome for _, o in first.outcomes] == ["draft"]
    assert second.outcomes == [] and not second.unchanged
    assert feeds.server.reads(FEED) == 2


async def test_an_endless_feed_is_cut_at_its_limit(feeds: Feeds) -> None:
    feeds.server.publish_endless(FEED)
    poll = await feeds.poll()
    assert poll.error == "the answer is more than the 8388608 bytes allowed"
