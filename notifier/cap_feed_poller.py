"""The CAP feeds of `cap.feeds`, polled by one replica: each new message imported once.

The replica holding the feeds' lock (an advisory lock of its own on PostgreSQL, like the
drill scheduler's; always this daemon on SQLite) reads each feed every `every_seconds`,
with the validators of its last answer, so an unchanged feed answers 304 and costs nothing.
Each entry not dealt with before has its CAP document read (from the entry's link, or from
the entry itself) and imported as `POST /api/v1/cap` would: a draft for the feed's stations
inside the message's areas, or what `cap.rules` says. The entry is then remembered with its
outcome (`notifier.store.cap_feeds.EntryOutcome`), so it is never read again:

- `draft`, `sent` (by a rule), `ignored` (by a rule), `known` (imported before, by its
  sender and identifier, through this feed, another, or the API);
- `outside` (no station of the feed in its areas), `expired` (every info block expired),
  `skipped` (a valid message that makes no alert: a Cancel, a System message);
- `refused`: a broken document (not XML, not valid CAP, too large, its link answering 404),
  reported in the log as `cap_feed_document_refused` and skipped.

A document that could not be read for a while (its server down, 5xx, a timeout) is not
remembered: the feed's validators are then not kept either, so the next poll reads the feed
again and tries it once more. So do entries past `MAX_NEW_ENTRIES` of one poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import structlog

from notifier import sources
from notifier.access import Principal
from notifier.cap.feeds import MAX_FEED_BYTES, FeedEntry, feed_entries
from notifier.cap.message import CapMessage
from notifier.cap.reading import read_cap
from notifier.cap.xml_safety import MAX_DOCUMENT_BYTES, CapError
from notifier.cap_documents import import_message
from notifier.cap_fetch import FetchError, fetch, http_session
from notifier.clock import Clock
from notifier.domain import AlertStatus, Role
from notifier.errors import ConflictError, FieldError
from notifier.settings import CapFeed, Settings
from notifier.store import cap_feeds
from notifier.store.cap_feeds import EntryOutcome
from notifier.store.engine import Database, is_sqlite
from notifier.store.outage import is_unavailable
from notifier.store.scheduler_lock import AdvisoryLock, OneProcessLock, SchedulerLock

log = structlog.get_logger(__name__)

LOCK_CLASS: Final = 0x6361_7066  # "capf": the feeds' lock; its key the schema's hash
APPLICATION_NAME: Final = "notifier cap feeds"
CHECK_SECONDS: Final = 1.0
"""How often the feeds due are looked for, the lock checked, or tried by the other replicas."""
MAX_NEW_ENTRIES: Final = 50
"""The most new entries of one feed read in one poll; the rest wait for the next."""


@dataclass(slots=True)
class FeedPoll:
    """What one poll of a feed did: `unchanged` (304), each new entry's outcome by its label,
    how many entries were `deferred` to the next poll, and the feed's `error` if it failed."""

    url: str
    unchanged: bool = False
    outcomes: list[tuple[str, EntryOutcome]] = field(default_factory=list)
    deferred: int = 0
    error: str | None = None


def feeds_lock(database: Database, worker: str) -> SchedulerLock:
    """The lock that elects the replica polling the feeds, for this database."""
    if is_sqlite(database.engine):
        return OneProcessLock()
    return AdvisoryLock(database, worker, lock_class=LOCK_CLASS, name=APPLICATION_NAME)


def feed_principal(feed: CapFeed) -> Principal:
    """Who a feed's imports are by: an officer of its stations, or for all of them."""
    name = f"cap feed {urlsplit(feed.url).hostname}"[:100]
    if feed.stations:
        return Principal(name, Role.OFFICER, frozenset(feed.stations), sources.daemon())
    return Principal(name, Role.ADMIN, source=sources.daemon())


class CapFeedPoller:
    """Polls the feeds of the settings while this replica holds the feeds' lock."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        lock: SchedulerLock,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._database = database
        self._settings = settings
        self._clock = clock
        self._lock = lock
        self._wake = wake
        self._leading = False
        self._due: dict[str, float] = {}  # each feed's next poll (monotonic)

    async def run(self, stopping: asyncio.Event) -> None:
        """Poll the feeds due while holding the lock (tried every `CHECK_SECONDS` while not),
        until `stopping` is set. Nothing at all when no feed is configured."""
        if not self._settings.cap.feeds:
            return
        guard = self._database.outages.guard("cap feeds", stopping)
        try:
            async with http_session() as http:
                while not stopping.is_set():
                    async with guard:
                        await self._pass(http)
                    if not guard.passed:
                        await self._step_down()
                    else:
                        await _wait(stopping, CHECK_SECONDS)
        finally:
            await self._step_down()
            await self._lock.close()

    async def _pass(self, http: aiohttp.ClientSession) -> None:
        if not self._leading:
            if not await self._lock.acquire():
                return
            self._leading = True
            self._due.clear()  # another replica polled until now: poll each feed at once
            log.info("cap_feeds_leading", feeds=len(self._settings.cap.feeds))
        else:
            await self._lock.check()
        for feed in self._settings.cap.feeds:
            if self._due.get(feed.url, 0.0) <= time.monotonic():
                await self.poll(http, feed)
                self._due[feed.url] = time.monotonic() + feed.every_seconds

    async def _step_down(self) -> None:
        if self._leading:
            self._leading = False
            await self._lock.release()

    async def poll(self, http: aiohttp.ClientSession, feed: CapFeed) -> FeedPoll:
        """Read `feed` once and import what it brings that is new; the database's outages
        raise, anything else wrong is the poll's `error`, logged and remembered."""
        try:
            return await self._poll(http, feed)
        except Exception as error:
            if is_unavailable(error):
                raise
            log.error("cap_feed_failed", url=feed.url, exc_info=error)
            problem = f"the poll failed: {type(error).__name__}: {error}"
            await self._remember_failure(feed, problem)
            return FeedPoll(feed.url, error=problem)

    async def _poll(self, http: aiohttp.ClientSession, feed: CapFeed) -> FeedPoll:
        async with self._database.session() as session:
            state = await cap_feeds.feed_state(session, feed.url)
            feed_id, etag, last_modified = state.id, state.etag, state.last_modified
        assert feed_id is not None
        try:
            answer = await fetch(
                http, feed.url, MAX_FEED_BYTES, etag=etag, last_modified=last_modified
            )
            entries = [] if answer.unchanged else await _entries(answer.body, feed.url)
        except (FetchError, CapError) as error:
            log.warning("cap_feed_unreadable", url=feed.url, error=str(error))
            await self._remember_failure(feed, str(error))
            return FeedPoll(feed.url, error=str(error))
        result = FeedPoll(feed.url, unchanged=answer.unchanged)
        async with self._database.session(read_only=True) as session:
            known = await cap_feeds.known_entries(session, feed_id, {e.key for e in entries})
        new = list({entry.key: entry for entry in entries if entry.key not in known}.values())
        result.deferred = max(0, len(new) - MAX_NEW_ENTRIES)
        for entry in new[:MAX_NEW_ENTRIES]:
            outcome = await self._deal_with(http, feed, entry)
            if outcome is None:
                result.deferred += 1
                continue
            async with self._database.session() as session:
                await cap_feeds.record_entry(
                    session, feed_id, entry.key, entry.label, outcome, self._clock.now()
                )
            result.outcomes.append((entry.label, outcome))
        await self._remember_success(feed, answer.etag, answer.last_modified, result)
        log.info(
            "cap_feed_polled",
            url=feed.url,
            unchanged=result.unchanged,
            new=len(result.outcomes),
            deferred=result.deferred,
        )
        return result

    async def _deal_with(
        self, http: aiohttp.ClientSession, feed: CapFeed, entry: FeedEntry
    ) -> EntryOutcome | None:
        """The outcome of one new entry, or None when its document could not be read for now."""
        document = entry.document
        if document is None:
            if not entry.fetchable:
                link = entry.url or "none"
                return _refused(feed, entry, f"no http(s) link to a CAP document (link: {link})")
            assert entry.url is not None
            try:
                document = (await fetch(http, entry.url, MAX_DOCUMENT_BYTES)).body
            except FetchError as error:
                if error.transient:
                    log.warning(
                        "cap_feed_document_unreachable",
                        url=feed.url,
                        entry=entry.label,
                        error=str(error),
                    )
                    return None
                return _refused(feed, entry, f"{entry.url}: {error}")
        try:
            message = await asyncio.to_thread(read_cap, document)
        except CapError as error:
            return _refused(feed, entry, str(error))
        return await self._import(feed, entry, message)

    async def _import(self, feed: CapFeed, entry: FeedEntry, message: CapMessage) -> EntryOutcome:
        expiries = [info.expires for info in message.infos]
        now = self._clock.now()
        if expiries and all(expires is not None and expires <= now for expires in expiries):
            return _noted(feed, entry, EntryOutcome("expired", "every info block has expired"))
        try:
            imported = await import_message(
                self._database, message, feed_principal(feed), self._settings
            )
        except FieldError as error:  # no station of the feed inside its areas
            return _noted(feed, entry, EntryOutcome("outside", error.reason))
        except ConflictError as error:
            return _noted(feed, entry, EntryOutcome("known", str(error)))
        except CapError as error:  # valid CAP, but not a warning to pass on
            return _noted(feed, entry, EntryOutcome("skipped", str(error)))
        alert = imported.alert
        if alert is None:
            outcome = EntryOutcome("ignored", f"rule {imported.rule} of cap.rules")
        elif not imported.created:
            outcome = EntryOutcome("known", "imported before", alert.id)
        elif alert.status == AlertStatus.DRAFT.value:
            outcome = EntryOutcome("draft", "", alert.id)
        else:
            outcome = EntryOutcome("sent", f"rule {imported.rule} of cap.rules", alert.id)
            self._wake()
        return _noted(feed, entry, outcome)

    async def _remember_failure(self, feed: CapFeed, error: str) -> None:
        async with self._database.session() as session:
            state = await cap_feeds.feed_state(session, feed.url)
            state.checked_at = self._clock.now()
            state.failures += 1
            state.error = error

    async def _remember_success(
        self, feed: CapFeed, etag: str | None, last_modified: str | None, result: FeedPoll
    ) -> None:
        """Note the poll; keep the answer's validators only if every entry was dealt with,
        so that a feed with entries deferred is read in full again at the next poll."""
        now = self._clock.now()
        async with self._database.session() as session:
            state = await cap_feeds.feed_state(session, feed.url)
            state.checked_at = now
            state.failures = 0
            state.error = None
            if not result.unchanged:
                state.changed_at = now
            if result.deferred:
                state.etag = state.last_modified = None
            else:
                state.etag, state.last_modified = etag, last_modified


async def _entries(body: bytes, url: str) -> list[FeedEntry]:
    return await asyncio.to_thread(feed_entries, body, url)  # a large feed holds up nothing


def _refused(feed: CapFeed, entry: FeedEntry, reason: str) -> EntryOutcome:
    log.warning("cap_feed_document_refused", url=feed.url, entry=entry.label, error=reason)
    return EntryOutcome("refused", reason)


def _noted(feed: CapFeed, entry: FeedEntry, outcome: EntryOutcome) -> EntryOutcome:
    log.info(
        "cap_feed_entry",
        url=feed.url,
        entry=entry.label,
        outcome=outcome.outcome,
        detail=outcome.detail,
        alert_id=outcome.alert_id,
    )
    return outcome


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
