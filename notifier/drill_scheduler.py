"""The drill scheduler in `notifier serve`: each drill raised on time, by one replica at a time.

The replica holding the scheduler lock (`notifier.store.scheduler_lock`) runs APScheduler's
`AsyncIOScheduler` with one job per drill not paused, in memory, built from the `drill` table
at start and again whenever `drill_schedule_version` changes (any replica's change: it is
polled every `POLL_SECONDS`). A job's times come from `notifier.cron.next_firing`, so a drill
fires once across a change of clocks. When a job fires, or on a reload, or every
`SWEEP_SECONDS` in case a job could not run (the database was away), the firings due are
raised by `notifier.store.drill_firings.fire_due`, which records each firing with its alert in
one transaction: two schedulers at once (a lock handed over, a clock jump) raise one alert.

The other replicas try to take the lock every `RETRY_SECONDS`: when its holder dies, its
connection ends, the server lets the lock go, and one of them runs the scheduler from its next
try. A firing missed meanwhile is raised then if it is at most `drills.misfire_grace_minutes`
late.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import select
from sqlmodel import col

from notifier.clock import Clock
from notifier.cron import CronSchedule, next_firing, parse_cron
from notifier.errors import NotifierError
from notifier.messages import Templates
from notifier.settings import DrillsSettings
from notifier.store import drill_firings, drills
from notifier.store.engine import Database
from notifier.store.scheduler_lock import SchedulerLock
from notifier.store.tables import DrillSchedule

log = structlog.get_logger(__name__)

RETRY_SECONDS = 2.0
"""How often a replica without the lock tries to take it."""
POLL_SECONDS = 2.0
"""How often the scheduler checks its lock and reads the schedules' change counter."""
SWEEP_SECONDS = 30.0
"""How often the scheduler raises what is due, besides its jobs."""


class DrillTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no types
    """An APScheduler trigger firing when a drill's schedule does (`notifier.cron`)."""

    __slots__ = ("schedule",)

    def __init__(self, schedule: CronSchedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The schedule's next firing after the previous one (after now, for the first)."""
        firing = next_firing(self.schedule, previous_fire_time or now)
        return None if firing is None else firing.utc

    def __str__(self) -> str:
        return f"cron[{self.schedule.expression} {self.schedule.zone.key}]"


class DrillScheduler:
    """Raises drill firings as they fall due, while this replica holds the lock."""

    def __init__(
        self,
        database: Database,
        templates: Templates,
        settings: DrillsSettings,
        clock: Clock,
        lock: SchedulerLock,
        wake: Callable[[], None] = lambda: None,
        *,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._database = database
        self._templates = templates
        self._grace = timedelta(minutes=settings.misfire_grace_minutes)
        self._clock = clock
        self._lock = lock
        self._wake = wake
        self._poll_seconds = poll_seconds
        self._scheduler: AsyncIOScheduler | None = None
        self._version: int | None = None  # of the schedules the jobs were built from
        self._swept = 0.0  # when the due firings were last raised outside a job (monotonic)

    @property
    def leading(self) -> bool:
        """Whether this replica runs the scheduler now."""
        return self._scheduler is not None

    def next_runs(self) -> dict[str, datetime]:
        """Each scheduled drill's next firing (UTC), by name: empty when not leading."""
        if self._scheduler is None:
            return {}
        return {job.name: job.next_run_time for job in self._scheduler.get_jobs()}

    async def run(self, stopping: asyncio.Event) -> None:
        """Take the lock when free and run the scheduler while held, until `stopping` is set.

        Each pass is one try for the lock, or, while held, one check of it and of the
        schedules. A pass that fails (the database away, the lock's connection lost) lets the
        lock go and stops the scheduler: the lock is tried again once the database answers.
        """
        guard = self._database.outages.guard("drills", stopping)
        try:
            while not stopping.is_set():
                async with guard:
                    await self._pass()
                if not guard.passed:
                    await self._step_down()
                else:
                    await _wait(stopping, self._poll_seconds if self.leading else RETRY_SECONDS)
        finally:
            await self._step_down()
            await self._lock.close()

    async def fire_due(self) -> list[int]:
        """Raise the firings due now, count the missed; the alerts raised."""
        async with self._database.session() as session:
            raised = await drill_firings.fire_due(
                session, self._clock.now(), self._grace, self._templates
            )
        if raised:
            log.info("drills_raised", alerts=raised)
            self._wake()
        return raised

    async def _pass(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            if not await self._lock.acquire():
                return
            scheduler = AsyncIOScheduler(
                timezone=UTC,
                job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            )
            scheduler.start()
            self._scheduler = scheduler
            self._version = None
            log.info("drill_scheduler_started")
        await self._lock.check()
        version = await self._reload_if_changed(scheduler, self._version)
        if version != self._version or time.monotonic() - self._swept >= SWEEP_SECONDS:
            self._version = version
            self._swept = time.monotonic()
            await self.fire_due()

    async def _step_down(self) -> None:
        """Stop the scheduler and let the lock go, if held."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
            log.info("drill_scheduler_stopped")
        await self._lock.release()

    async def _reload_if_changed(self, scheduler: AsyncIOScheduler, known: int | None) -> int:
        """Rebuild the jobs if the schedules changed since `known`; the version now."""
        async with self._database.session(read_only=True) as session:
            version = await drills.schedule_version(session)
            if version == known:
                return version
            query = select(DrillSchedule).where(col(DrillSchedule.paused).is_(False))
            active = list((await session.execute(query)).scalars())
        scheduler.remove_all_jobs()
        for drill in active:
            try:
                schedule = parse_cron(drill.cron, ZoneInfo(drill.timezone))
            except (NotifierError, LookupError) as error:  # a zone gone from the system's data
                log.error("drill_not_scheduled", drill=drill.name, error=str(error))
                continue
            scheduler.add_job(
                self._run_job, DrillTrigger(schedule), id=str(drill.id), name=drill.name
            )
        log.info("drills_scheduled", drills=len(active), version=version)
        return version

    async def _run_job(self) -> None:
        try:
            await self._database.outages.retry("drill_jobs", self.fire_due)
        except Exception:
            log.exception("drill_firing_failed")


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
