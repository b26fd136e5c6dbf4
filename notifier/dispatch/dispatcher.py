"""The dispatcher: materialise audiences, claim due deliveries per channel, send, record outcomes.

One `Lane` per channel holds the channel, its concurrency bound and its token bucket. A lane
claims only what it can send within a few seconds, so leases stay short and a slow provider
never holds up the other channel. Outcomes are classified once, in `notifier.retry`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog

from notifier.channel_health import ChannelHealth
from notifier.channels.base import Channel as ChannelSender
from notifier.channels.base import OutgoingCall, OutgoingEmail, OutgoingSms
from notifier.clock import Clock
from notifier.dispatch.lane import Job, Lane
from notifier.dispatch.rate_limit import TokenBucket
from notifier.dispatch.recorder import SentRecorder
from notifier.dispatch.rendering import Addressee, AlertToSend, MessageFactory
from notifier.domain import AlertStatus, Channel, Language, Purpose
from notifier.errors import SendError, TransientSendError
from notifier.messages import alert_content
from notifier.retry import GiveUp, Retry, RetryPolicy, after_failure
from notifier.settings import DispatchSettings, Settings
from notifier.store import hot_path, materialisation, outbox, unsent
from notifier.store.engine import Database
from notifier.store.outbox_news import outbox_news
from notifier.store.presence import replica_presence
from notifier.store.sending import ClaimedDelivery, SentMessage
from notifier.store.statistics import PlannerStatistics

log = structlog.get_logger(__name__)

HOLD_BACK_CHECK_SECONDS = 0.2
"""How often a replica whose lanes hold back looks again whether what they wait for is sent."""

SendObserver = Callable[[Channel, str, float], None]
"""Called after each attempt with the channel, the outcome and the seconds the send took."""


def configured_lanes(
    settings: Settings,
    *,
    email: ChannelSender[Any],
    sms: ChannelSender[Any],
    voice: ChannelSender[Any] | None = None,
) -> list[Lane]:
    """One lane per channel, with the concurrency and rate the configuration gives; WhatsApp
    goes through the SMS channel (Twilio's Messages API), at a rate of its own, when
    `sms.whatsapp_from` is set; calls through `voice` when given."""
    lanes = [
        Lane(Channel.SMS, sms, settings.sms.concurrency, TokenBucket(settings.sms.rate_per_second)),
        Lane(
            Channel.EMAIL,
            email,
            settings.email.pool_size,
            TokenBucket(settings.email.rate_per_second),
        ),
    ]
    if settings.sms.whatsapp_from:
        rate = TokenBucket(settings.sms.whatsapp_rate_per_second)
        lanes.append(Lane(Channel.WHATSAPP, sms, settings.sms.concurrency, rate))
    if voice is not None:
        calls = TokenBucket(settings.voice.rate_per_second)
        lanes.append(Lane(Channel.VOICE, voice, settings.voice.concurrency, calls))
    return lanes


class Dispatcher:
    """Moves the outbox to the providers until told to stop."""

    def __init__(
        self,
        database: Database,
        lanes: Sequence[Lane],
        factory: MessageFactory,
        settings: DispatchSettings,
        clock: Clock,
        worker: str,
        *,
        observe: SendObserver | None = None,
        health: ChannelHealth | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._database = database
        self._lanes = {lane.channel: lane for lane in lanes}
        self._factory = factory
        self._settings = settings
        self._clock = clock
        self._worker = worker
        self._observe = observe or (lambda channel, outcome, seconds: None)
        self._health = health or ChannelHealth()
        self._jitter = jitter
        self._policy = RetryPolicy(
            settings.max_attempts, settings.backoff_base_seconds, settings.backoff_max_seconds
        )
        self._materialise_wake = asyncio.Event()
        self._recorder = SentRecorder(database, clock)
        self._presence = replica_presence(database, worker)
        self._news = outbox_news(database, worker)
        self._statistics = PlannerStatistics(database)
        # An alert's words never change, and cancelling it cancels its queued deliveries in
        # the database, so what was read once serves every later claim.
        self._alerts: dict[int, AlertToSend | None] = {}
        self._lease_margin = timedelta(seconds=settings.lease_seconds / 10)

    def wake(self) -> None:
        """New work may be in the outbox: look now rather than at the next poll."""
        self._materialise_wake.set()
        self.wake_senders(*self._lanes)

    def wake_senders(self, *channels: Channel) -> None:
        """Deliveries on `channels` were queued as they are to be sent (answers'
        confirmations): their lanes claim now, with no pass of the alerts still to be
        materialised (measured during a burst of replies: a pass for each reply's wake took
        7 % of a replica's loop), and the other lanes do not look for work they have not got."""
        for channel in channels:
            lane = self._lanes.get(channel)
            if lane is not None:
                lane.wake.set()

    def _heard(self, priority: int) -> None:
        """Another replica has just queued deliveries of `priority`: act as if this one had."""
        self._materialise_wake.set()  # its alert's next batches: hold back what is less urgent
        self._queued(priority)

    def _queued(self, priority: int) -> None:
        """Deliveries of `priority` are in the outbox: claim them now, before what is held
        here if they are more urgent, and send nothing less urgent meanwhile (measured: with
        two replicas, the one that heard of an emergency went on sending the drill for 50 ms,
        until its next pass of the outbox told it to hold back)."""
        for lane in self._lanes.values():
            lane.wake.set()
            lane.hold_back_also(priority)
            if lane.holds_less_urgent_than(priority):
                lane.urgent.set()

    async def run(self, stopping: asyncio.Event, grace_seconds: float) -> None:
        """Dispatch until `stopping` is set, then let sends under way finish within the grace.

        Each loop waits out an outage of the database by itself (`Database.outages`), and
        goes on where it was once the database is back.
        """
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._materialise_loop(stopping))
                tasks.create_task(self._housekeeping_loop(stopping))
                tasks.create_task(self._news.listen(self._heard, stopping))
                tasks.create_task(self._statistics.keep(stopping))
                for lane in self._lanes.values():
                    tasks.create_task(self._run_lane(lane, stopping, grace_seconds))
        finally:
            await self._recorder.close()
            await self._presence.close()  # what is still leased is taken over at once

    async def _materialise_loop(self, stopping: asyncio.Event) -> None:
        guard = self._database.outages.guard("materialisation", stopping)
        while not stopping.is_set():
            progressed = False
            async with guard:
                progressed = await self._materialise_pending()
            if guard.passed and not progressed:
                seconds = self._settings.poll_interval_seconds
                if any(lane.holding_back for lane in self._lanes.values()):
                    seconds = min(seconds, HOLD_BACK_CHECK_SECONDS)  # not to wait past it
                await _wait_any(self._materialise_wake, stopping, seconds)

    async def _materialise_pending(self) -> bool:
        """One batch of each alert still being materialised; True if any has more to do here.
        An alert another replica is at a batch of waits for the next pass: its news, an alert
        raised through this replica and the poll all bring one on. The lanes are told what to
        hold back for, before and after."""
        progressed = False
        for lane in self._lanes.values():
            lane.reading_outbox()
        async with self._database.session(read_only=True) as session:
            pending = await materialisation.alerts_to_materialise(session)
            most_urgent = await unsent.most_urgent_unsent(session, self._clock.now())
        self._hold_back([priority for _, priority in pending], most_urgent)
        unfinished: list[int] = []
        for alert_id, priority in pending:
            result = await self._database.run_lengthy(
                partial(
                    materialisation.materialise,
                    alert_id=alert_id,
                    batch_size=self._settings.materialise_batch,
                    now=self._clock.now(),
                    sending=frozenset(self._lanes),
                )
            )
            if result.deliveries:
                self._queued(priority)
                await self._news.announce(priority)  # and the other replicas likewise
                self._statistics.request()  # the planner to know the alert's size
            progressed = progressed or not (result.finished or result.busy)
            if result.finished:
                log.info("alert_materialised", alert_id=alert_id)
            else:
                unfinished.append(priority)
        self._hold_back(unfinished, most_urgent)
        return progressed

    def _hold_back(self, materialising: Sequence[int], most_urgent: Mapping[Channel, int]) -> None:
        """Tell each lane the most urgent work not yet sent: an alert still being materialised
        (of `materialising` priorities), or its channel's `most_urgent` alert message due or
        being sent by any replica."""
        for lane in self._lanes.values():
            waiting = list(materialising)
            if lane.channel in most_urgent:
                waiting.append(most_urgent[lane.channel])
            lane.hold_back(min(waiting, default=None))

    async def _housekeeping_loop(self, stopping: asyncio.Event) -> None:
        period = max(0.2, min(1.0, self._settings.lease_seconds / 4))
        guard = self._database.outages.guard("housekeeping", stopping)
        while not stopping.is_set():
            async with guard:
                await self._housekeeping()
            if guard.passed:
                await _wait_any(None, stopping, period)

    async def _housekeeping(self) -> None:
        for lane in self._lanes.values():
            if lane.lapsed:
                log.warning("lease_too_short", channel=lane.channel.value, count=lane.lapsed)
                lane.lapsed = 0
        await self._presence.keep()
        now = self._clock.now()
        # What this process's senders still hold stays theirs, even past its lease (a message
        # sent while the database was away, its outcome not yet written): reclaimed, it would
        # be claimed and sent again.
        held = [
            delivery_id
            for lane in self._lanes.values()
            for delivery_id, lease_until in lane.holding.items()
            if lease_until < now
        ]
        async with self._database.session() as session:
            reclaimed = await outbox.reclaim_expired(
                session, now, self._settings.max_attempts, held
            )
            vanished = await self._presence.vanished(session)
            taken_over = await outbox.reclaim_vanished(
                session, vanished, now, self._settings.max_attempts
            )
            settled = await outbox.settle_alerts(session, now)
        if reclaimed:
            log.warning("leases_reclaimed", count=reclaimed)
            self.wake()
        if taken_over:
            log.warning("replicas_gone", replicas=len(vanished), deliveries=taken_over)
            self.wake()
        elif vanished:  # a replica stopped cleanly, its deliveries sent or given back
            log.info("replicas_left", replicas=len(vanished))
        if settled:
            log.info("alerts_dispatched", count=settled)
        await self._database.checkpoint()  # what the hot path wrote, into the file

    async def _run_lane(self, lane: Lane, stopping: asyncio.Event, grace: float) -> None:
        senders = [asyncio.create_task(self._send_loop(lane)) for _ in range(lane.concurrency)]
        try:
            await self._claim_loop(lane, stopping)
            try:
                # What no sender has begun goes back to the outbox at once, for another
                # replica or the next start: only the sends under way have the grace to end.
                await self._give_back(lane, lane.not_begun(), "gave_back_at_stop")
            except Exception:  # the database away: their leases run out and they come back
                log.warning("give_back_failed", channel=lane.channel.value, exc_info=True)
            await _drain(lane, grace)
        finally:
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)

    async def _claim_loop(self, lane: Lane, stopping: asyncio.Event) -> None:
        guard = self._database.outages.guard(f"claims_{lane.channel.value}", stopping)
        while not stopping.is_set():
            claimed = 0
            async with guard:
                claimed = await self._claim_more(lane)
            if not guard.passed:
                continue
            if lane.held > lane.low_water:
                # Claim again only once half of what is held is sent: one claim (a transaction
                # of several statements) then serves many deliveries, not one each.
                lane.drained.clear()
                await _wait_any(
                    lane.drained, stopping, self._settings.poll_interval_seconds, lane.urgent
                )
            elif not claimed:
                await _wait_any(lane.wake, stopping, self._settings.poll_interval_seconds)

    async def _claim_more(self, lane: Lane) -> int:
        """Claim what the lane has room for, and queue it for its senders; how many.

        Nothing is claimed until this replica's presence is held (without it, the others
        would take what it claims for the deliveries of a replica gone), and long enough for
        the others to have seen it (had it died before, they would not know to take over).
        """
        if not self._presence.may_claim:
            await self._presence.keep()
            if not self._presence.may_claim:
                return 0
        lane.plan(asyncio.get_running_loop().time(), most=2 * self._settings.claim_batch)
        limit = min(lane.target - lane.held, self._settings.claim_batch)
        if lane.urgent.is_set():
            # More urgent deliveries than some held here are queued: claim them now, whatever
            # is held (claims come most urgent first); the senders take them first.
            lane.urgent.clear()
            limit = self._settings.claim_batch
        jobs = await self._claim(lane.channel, limit) if limit > 0 else []
        if lane.holding:
            # Held here still, its lease run out meanwhile and taken back by another replica:
            # this process sends it, or has, and writes its outcome.
            jobs = [job for job in jobs if job.delivery.id not in lane.holding]
        full = bool(jobs) and len(jobs) == limit
        lane.took(jobs)
        if full and lane.holds_less_urgent_than(jobs[-1].delivery.priority):
            # More of that kind may be queued: the less urgent deliveries held here and not
            # begun go back to the outbox, to be sent after them.
            await self._give_back(lane, lane.give_way(jobs[-1].delivery.priority), "gave_way")
        return len(jobs)

    async def _give_back(self, lane: Lane, jobs: Sequence[Job], event: str) -> None:
        """Queue `jobs` (taken out of the lane, not begun) in the outbox again, due as before.
        Should that fail, they come back when their leases end."""
        if not jobs:
            return
        async with self._database.session() as session:
            await outbox.give_back(session, [job.delivery.id for job in jobs], self._worker)
        log.info(event, channel=lane.channel.value, deliveries=len(jobs))

    async def _send_loop(self, lane: Lane) -> None:
        while True:
            await lane.unrecorded.acquire()  # before choosing: what is chosen goes at once
            try:
                job = await lane.next_job()
            except BaseException:
                lane.unrecorded.release()
                raise
            handed_over = False
            try:
                handed_over = await self._deliver(lane, job)
            except Exception:  # the sender's boundary: the lease runs out and it is sent again
                log.exception("delivery_not_recorded", delivery_id=job.delivery.id)
            finally:
                if not handed_over:
                    lane.finished_one(job.delivery.id)

    async def _claim(self, channel: Channel, limit: int) -> list[Job]:
        claim = await hot_path.claim_with_details(
            self._database,
            channel,
            limit,
            self._worker,
            self._clock.now(),
            timedelta(seconds=self._settings.lease_seconds),
            known_alerts=frozenset(self._alerts),  # a copy: the work may run in a thread
        )
        self._alerts.update(
            (alert_id, _alert_to_send(row)) for alert_id, row in claim.alerts.items()
        )
        return [
            Job(
                delivery,
                self._alerts[delivery.alert_id],
                _addressee(claim.people[delivery.person]),
                delivery.person in claim.several,
            )
            for delivery in claim.deliveries
        ]

    async def _deliver(self, lane: Lane, job: Job) -> bool:
        """Send the job's message and record the outcome; True if the recorder now holds it."""
        delivery = job.delivery
        if job.alert is None:  # the alert was cancelled after the claim
            lane.bucket.give_back()  # nothing is sent
            await self._database.outages.retry(
                "send_outcomes", partial(self._mark_cancelled, delivery.id)
            )
            return False
        try:
            # Rendered once a sender is free, not when claimed: a burst of renders for a
            # whole claim would hold the loop while the other lane's first messages wait.
            message = self._render(job)
            cost = self._factory.cost(message)  # at the prices configured as it is sent
            if self._clock.now() >= delivery.lease_until - self._lease_margin:
                # Too late: another worker may own it by now. The lease runs out and it is
                # claimed again, rather than sent twice. (Counted, and logged in one line
                # with the others: after an outage there may be hundreds.)
                lane.lapsed += 1
                return False
            lane.attempted += 1
            started = time.perf_counter()
            provider_id = await lane.sender.send(message)
            elapsed = time.perf_counter() - started
        except SendError as error:
            self._observe(lane.channel, "failed", 0.0)
            self._health.failed(lane.channel, error, self._clock.now())
            await self._record_failure(delivery, error)
            return False
        except Exception as error:  # a bug must not lose the alert: retry it as transient
            log.exception("delivery_crashed", delivery_id=delivery.id, channel=lane.channel.value)
            await self._record_failure(delivery, TransientSendError(f"internal error: {error!r}"))
            return False
        self._observe(lane.channel, "sent", elapsed)
        self._health.succeeded(lane.channel)
        self._recorder.record(
            SentMessage(delivery.id, provider_id, cost.segments, cost.micros),
            partial(lane.finished_one, delivery.id),
        )
        return True

    def _render(self, job: Job) -> OutgoingSms | OutgoingEmail | OutgoingCall:
        delivery, person = job.delivery, job.person
        if delivery.channel is Channel.VOICE:
            assert person.phone is not None, "a call is made only to a person with a phone"
            return OutgoingCall(person.phone, delivery.id)
        if delivery.channel is Channel.EMAIL:
            if delivery.purpose is not Purpose.ALERT:
                return self._factory.notice_email(
                    delivery.subject or "", delivery.body or "", person
                )
            assert job.alert is not None, "a cancelled alert's deliveries are never rendered"
            return self._factory.email(job.alert, person)
        if delivery.purpose is not Purpose.ALERT:
            text = self._factory.notice_sms(delivery.body or "", person, reference=delivery.id)
        else:
            assert job.alert is not None, "a cancelled alert's deliveries are never rendered"
            text = self._factory.sms(
                job.alert, person, show_code=job.show_code, reference=delivery.id
            )
        return replace(text, whatsapp=True) if delivery.channel is Channel.WHATSAPP else text

    async def _mark_cancelled(self, delivery_id: int) -> None:
        async with self._database.session() as session:
            await outbox.mark_cancelled(session, delivery_id)

    async def _record_failure(self, delivery: ClaimedDelivery, error: SendError) -> None:
        """Write the failed attempt's outcome, waiting out an outage of the database."""
        now = self._clock.now()
        decision = after_failure(self._policy, error, delivery.attempts, now, self._jitter)
        failed_over = await self._database.outages.retry(
            "send_outcomes", partial(self._write_failure, delivery, decision, str(error), now)
        )
        if isinstance(decision, GiveUp):
            log.warning(
                "delivery_failed",
                delivery_id=delivery.id,
                alert_id=delivery.alert_id,
                channel=delivery.channel.value,
                reason=decision.reason,
                failed_over=failed_over,
            )
            if failed_over:
                self.wake()

    async def _write_failure(
        self, delivery: ClaimedDelivery, decision: Retry | GiveUp, error: str, now: datetime
    ) -> bool:
        """Fail the delivery or queue it again; True if the other channel now carries it."""
        async with self._database.session() as session:
            if isinstance(decision, GiveUp):
                return await outbox.mark_failed(session, delivery, decision.reason, now)
            await outbox.mark_retry(session, delivery.id, self._worker, decision.at, error)
        return False


def _alert_to_send(row: Any) -> AlertToSend | None:
    if row.status == AlertStatus.CANCELLED.value:
        return None
    return AlertToSend(row.id, alert_content(row), row.created_at)


_LANGUAGES = {language.value: language for language in Language}


def _addressee(row: Any) -> Addressee:
    pk, phone, email, language = row
    return Addressee(pk, phone, email, _LANGUAGES[language])


async def _wait_any(
    wake: asyncio.Event | None,
    stopping: asyncio.Event,
    seconds: float,
    also: asyncio.Event | None = None,
) -> None:
    """Wait until woken, stopped, `also` is set, or `seconds` pass; `wake` is cleared."""
    waiters = {asyncio.ensure_future(stopping.wait())}
    for event in (wake, also):
        if event is not None:
            waiters.add(asyncio.ensure_future(event.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        if wake is not None:
            wake.clear()


async def _drain(lane: Lane, grace: float) -> None:
    """Let the lane's sends under way end and be recorded within the grace; leave the rest.

    What is left keeps its lease until it runs out (or, on PostgreSQL, until the others see
    this replica gone), and is then claimed again.
    """
    if not lane.held:
        return
    log.info("lane_draining", channel=lane.channel.value, held=lane.held)
    try:
        await asyncio.wait_for(lane.empty.wait(), grace)
    except TimeoutError:
        log.warning("lane_drain_cut_short", channel=lane.channel.value, left=lane.held)
