"""A lane: one channel's sending, with its concurrency, its rate and the deliveries it holds."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.channels.base import Channel as ChannelSender
from notifier.dispatch.rate_limit import TokenBucket
from notifier.dispatch.rendering import Addressee, AlertToSend
from notifier.domain import Channel
from notifier.store.sending import ClaimedDelivery

PACE_WINDOW_SECONDS = 0.25
"""How often a lane measures its pace: soon after it starts, its claims grow to fit it."""


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery with what sending it needs."""

    delivery: ClaimedDelivery
    alert: AlertToSend | None  # None: the alert was cancelled meanwhile
    person: Addressee
    show_code: bool = False  # the person has several open alerts: the SMS names this one


@dataclass(slots=True)
class Lane:
    """One channel's sending: the channel itself, its concurrency and its rate.

    `concurrency` senders take claimed deliveries from `jobs`, the most urgent first (an
    emergency's before a drill's claimed earlier), each priority in the order claimed, and
    each chosen only once the lane's rate lets it be sent: a sender waiting its turn holds
    no delivery, so one more urgent, claimed meanwhile, is the next to go. A
    delivery is held from its claim until its outcome is written; `unrecorded` lets at most
    `concurrency` sends be under way plus as many again whose outcome is still being written:
    a crash can repeat only those, never a backlog. `holding` maps each held delivery to the
    end of its lease. `urgent` is set when deliveries more urgent than some held here were
    queued: the lane claims them at once, however much it holds.
    """

    channel: Channel
    sender: ChannelSender[Any]
    concurrency: int
    bucket: TokenBucket
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    urgent: asyncio.Event = field(default_factory=asyncio.Event)
    jobs: list[tuple[int, int, Job]] = field(default_factory=list)
    """The held deliveries no sender has begun: a heap, the most urgent first."""
    holding: dict[int, datetime] = field(default_factory=dict)
    _holding_for: int | None = None
    """The priority of the most urgent work not yet sent: the senders hold back anything
    less urgent until it is gone (`hold_back`)."""
    _queued_since_read: int | None = None
    """The most urgent priority queued since the outbox was last read (`reading_outbox`)."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set (and replaced) whenever a job is queued or the hold-back changes."""
    _priorities: Counter[int] = field(default_factory=Counter)
    """How many held deliveries have each priority."""
    _priority_of: dict[int, int] = field(default_factory=dict)
    _queued: Iterator[int] = field(default_factory=itertools.count)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    empty: asyncio.Event = field(default_factory=asyncio.Event)
    unrecorded: asyncio.Semaphore = field(init=False)
    target: int = field(init=False)
    attempted: int = 0
    """Sends begun, ever: the lane's pace is measured from it."""
    lapsed: int = 0
    """Deliveries given up unsent, their lease too near its end, since it was last logged."""
    _paced_at: float = 0.0
    _paced_attempted: int = 0

    def __post_init__(self) -> None:
        self.unrecorded = asyncio.Semaphore(self.concurrency * 2)
        self.target = self.concurrency * 4

    @property
    def held(self) -> int:
        """Deliveries claimed and not yet finished."""
        return len(self.holding)

    @property
    def low_water(self) -> int:
        """Deliveries left in hand when the lane claims more: enough to keep every slot busy."""
        return self.target // 2

    def plan(self, now: float, most: int) -> None:
        """Set `target`, the deliveries to hold: what the lane sends in about a second.

        Measured, not taken from the configured rate: a claimed delivery must be sent well
        before its lease expires, however slowly the provider answers. Never fewer than four
        per slot, so that every slot stays busy; never more than `most`. Sends begun are
        counted, not outcomes written: after an outage of the database the outcomes are
        written all at once, and the deliveries whose lease ran out meanwhile are given up
        all at once, neither of which is the pace of sending.
        """
        if now - self._paced_at < PACE_WINDOW_SECONDS:
            return
        pace = (self.attempted - self._paced_attempted) / (now - self._paced_at)
        self._paced_at, self._paced_attempted = now, self.attempted
        self.target = max(self.concurrency * 4, min(most, int(pace)))

    def took(self, jobs: Sequence[Job]) -> None:
        """Jobs just claimed: held until their outcome is written, queued for the senders."""
        for job in jobs:
            delivery = job.delivery
            self.holding[delivery.id] = delivery.lease_until
            self._priority_of[delivery.id] = delivery.priority
            self._priorities[delivery.priority] += 1
            heapq.heappush(self.jobs, (delivery.priority, next(self._queued), job))
        if jobs:
            self.empty.clear()
            self._signal()

    def reading_outbox(self) -> None:
        """What the outbox holds is being read, for `hold_back`: what is queued from now on
        (`hold_back_also`) may not be in what is read."""
        self._queued_since_read = None

    def hold_back(self, priority: int | None) -> None:
        """The most urgent work not yet sent has `priority` (None: there is none), as read
        since `reading_outbox`: an alert still being put in the outbox, or an alert's messages
        due or being sent, here or by another replica; or what was queued since, which may not
        be in what was read (with two replicas, a pass that had read the outbox before an
        emergency was queued let go of the hold its news had set: 55 drill SMS were sent in
        the 155 ms after the emergency's first). Nothing less urgent is sent until it is gone."""
        queued = self._queued_since_read
        if queued is not None and (priority is None or queued < priority):
            priority = queued
        if priority != self._holding_for:
            self._holding_for = priority
            self._signal()

    def hold_back_also(self, priority: int) -> None:
        """Deliveries of `priority` have just been queued: hold back what is less urgent at
        once, and until `hold_back` is told what the outbox holds as read after this."""
        if self._queued_since_read is None or priority < self._queued_since_read:
            self._queued_since_read = priority
        self.hold_back(self._holding_for)  # the more urgent of the two

    @property
    def holding_back(self) -> bool:
        """Whether the senders hold back anything they could send."""
        return self._holding_for is not None and self.holds_less_urgent_than(self._holding_for)

    async def next_job(self) -> Job:
        """The most urgent job waiting, the earliest claimed of its priority, once the lane's
        rate lets it be sent; none less urgent than what is held back for (`hold_back`)."""
        while True:
            while not self._sendable():
                await self._changed.wait()
            await self.bucket.take()
            if self._sendable():  # another sender may have taken it while this one waited
                return heapq.heappop(self.jobs)[2]
            self.bucket.give_back()

    def _sendable(self) -> bool:
        return bool(self.jobs) and (
            self._holding_for is None or self.jobs[0][0] <= self._holding_for
        )

    def _signal(self) -> None:
        """Wake the senders waiting for a job to send (each waits on the event of its time)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def give_way(self, priority: int) -> list[Job]:
        """Take out the jobs less urgent than `priority` that no sender has begun, and let them
        go: more urgent deliveries are still queued in the outbox, and these, given back to
        it, are claimed again after them, instead of waiting here for their leases to end."""
        return self._take_out(lambda queued: queued > priority)

    def not_begun(self) -> list[Job]:
        """Take out every job no sender has begun, and let them go (the daemon is stopping)."""
        return self._take_out(lambda _: True)

    def _take_out(self, which: Callable[[int], bool]) -> list[Job]:
        given = [entry[2] for entry in sorted(self.jobs) if which(entry[0])]
        self.jobs[:] = [entry for entry in self.jobs if not which(entry[0])]
        heapq.heapify(self.jobs)
        for job in given:
            self._let_go(job.delivery.id)
        return given

    def holds_less_urgent_than(self, priority: int) -> bool:
        """Whether any held delivery is less urgent than `priority` (a higher number)."""
        return any(held > priority for held, count in self._priorities.items() if count)

    def finished_one(self, delivery_id: int) -> None:
        """A held delivery's outcome is written (or it was given up): its room is free."""
        self.unrecorded.release()
        self._let_go(delivery_id)

    def _let_go(self, delivery_id: int) -> None:
        self.holding.pop(delivery_id, None)
        priority = self._priority_of.pop(delivery_id, None)
        if priority is not None:
            self._priorities[priority] -= 1
        if self.held <= self.low_water:
            self.drained.set()
        if not self.held:
            self.empty.set()
