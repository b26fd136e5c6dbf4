"""Chase people who have not answered: send the alert again and tell the focal points.

Each round of an alert is taken by compare-and-set on the alert's round counter, so with
several replicas exactly one runs it, and a crash mid-round rolls the whole round back.
Before each pass, alerts raised `alerts.auto_close_hours` ago are closed, by one conditional
update, so that an old alert is never chased (after a restart with a shorter timeout, say).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.clock import Clock
from notifier.domain import Channel, Purpose, ResponseKind
from notifier.escalation import (
    EMAIL_LIST_LINES,
    EMAIL_TEXT_CHARS,
    SMS_LIST_LINES,
    SMS_TEXT_CHARS,
    ListedPerson,
    focal_point_list,
    next_round_at,
    resend_channels,
)
from notifier.messages import Templates
from notifier.settings import AlertsSettings, EscalationSettings
from notifier.store import alerts, escalations, outbox
from notifier.store.engine import Database
from notifier.store.escalations import FocalPoint, Listed, OpenAlert

log = structlog.get_logger(__name__)

PERIOD_SECONDS = 5.0


class Escalator:
    """Runs escalation rounds as they fall due; with `voice`, those who have not answered are
    also called from round `voice_after_rounds` (the last round unless set)."""

    def __init__(
        self,
        database: Database,
        templates: Templates,
        settings: EscalationSettings,
        clock: Clock,
        wake: Callable[[], None] = lambda: None,
        *,
        alert_settings: AlertsSettings | None = None,
        voice: bool = False,
    ) -> None:
        self._database = database
        self._templates = templates
        self._settings = settings
        self._clock = clock
        self._wake = wake
        self._timeout = timedelta(minutes=settings.ack_timeout_minutes)
        self._auto_close_hours = (alert_settings or AlertsSettings()).auto_close_hours
        # The round from which those not answering are called too, when calls are placed.
        self._calls_from = (settings.voice_after_rounds or settings.max_rounds) if voice else None

    async def run(self, stopping: asyncio.Event) -> None:
        """Look for due rounds every few seconds until `stopping` is set.

        An outage of the database is waited out (`Database.outages`); any other failure is
        logged, and the loop tries again after a pause.
        """
        guard = self._database.outages.guard("escalation", stopping)
        while not stopping.is_set():
            async with guard:
                await self.run_due()
            if guard.passed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), PERIOD_SECONDS)

    async def run_due(self) -> int:
        """Close the alerts whose time is up, then run every round due now; how many rounds ran."""
        await self.close_expired()
        if self._settings.max_rounds == 0:
            return 0
        async with self._database.session() as session:
            candidates = await escalations.escalating_alerts(session, self._settings.max_rounds)
        now = self._clock.now()
        ran = 0
        for alert in candidates:
            if (
                next_round_at(alert.created_at, alert.escalate_at, alert.escalations, self._timeout)
                > now
            ):
                continue
            async with self._database.session() as session:
                if not await escalations.take_round(session, alert, now + self._timeout):
                    continue
                queued = await self._round(session, alert, alert.escalations + 1, now)
            ran += 1
            if queued:
                self._wake()
        return ran

    async def close_expired(self) -> list[int]:
        """Close the open alerts raised `alerts.auto_close_hours` ago or more; their ids."""
        now = self._clock.now()
        raised_by = now - timedelta(hours=self._auto_close_hours)
        async with self._database.session() as session:
            closed = await alerts.close_expired(session, raised_by, now)
        for alert_id in closed:
            log.info("alert_closed", alert_id=alert_id, after_hours=self._auto_close_hours)
        return closed

    async def _round(
        self, session: AsyncSession, alert: OpenAlert, round_: int, now: datetime
    ) -> int:
        silent = await escalations.recipients_by_response(session, alert.id, None)
        needing_help = await escalations.recipients_by_response(
            session, alert.id, ResponseKind.HELP
        )
        wrote = await escalations.recipients_by_response(session, alert.id, ResponseKind.OTHER)
        tried = await escalations.channels_tried(session, alert.id)
        queued = 0
        calling = self._calls_from is not None and round_ >= self._calls_from
        for person in silent:
            channels = resend_channels(tried.get(person.person, set()), person.reachable)
            if calling and person.phone:
                channels.add(Channel.VOICE)
            queued += await escalations.queue_resend(
                session, alert.id, person.person, channels, round_, now
            )
        if queued:
            await outbox.reopen(session, alert.id)
        listed = _Lists(needing_help, wrote, silent)
        queued += await self._tell_focal_points(session, alert, round_, listed, now)
        log.info(
            "alert_escalated",
            alert_id=alert.id,
            round=round_,
            not_answered=len(silent),
            needing_help=len(needing_help),
            wrote=len(wrote),
            queued=queued,
        )
        return queued

    async def _tell_focal_points(
        self,
        session: AsyncSession,
        alert: OpenAlert,
        round_: int,
        listed: _Lists,
        now: datetime,
    ) -> int:
        by_station: dict[str, _Lists] = defaultdict(lambda: _Lists([], [], []))
        for person in listed.needing_help:
            by_station[person.station].needing_help.append(person)
        for person in listed.wrote:
            by_station[person.station].wrote.append(person)
        for person in listed.silent:
            by_station[person.station].silent.append(person)
        group = self._settings.focal_point_group
        queued = 0
        for focal in await escalations.focal_points(session, group, by_station):
            notice = self._focal_notice(alert, round_, focal, by_station[focal.station])
            if notice is not None:
                queued += int(await outbox.queue_notice(session, notice, now))
        return queued

    def _focal_notice(
        self,
        alert: OpenAlert,
        round_: int,
        focal: FocalPoint,
        listed: _Lists,
    ) -> outbox.Notice | None:
        """The list by e-mail when the focal point has an address, else a short one by SMS."""
        channel = Channel.EMAIL if focal.email else Channel.SMS if focal.phone else None
        if channel is None:
            return None
        by_email = channel is Channel.EMAIL
        subject, body = focal_point_list(
            self._templates.strings[focal.language],
            station=focal.station,
            title=alert.title,
            needing_help=[_listed(person) for person in listed.needing_help],
            not_answered=[_listed(person) for person in listed.silent],
            wrote=[_listed(person) for person in listed.wrote],
            max_lines=EMAIL_LIST_LINES if by_email else SMS_LIST_LINES,
            max_text=EMAIL_TEXT_CHARS if by_email else SMS_TEXT_CHARS,
        )
        return outbox.Notice(
            alert.id, focal.person, channel, Purpose.ESCALATION, round_, body, subject
        )


@dataclass(frozen=True, slots=True)
class _Lists:
    """Who a focal point is told about: who needs help, who wrote words, who is silent."""

    needing_help: list[Listed]
    wrote: list[Listed]
    silent: list[Listed]


def _listed(person: Listed) -> ListedPerson:
    contact = person.phone or person.email or ""
    return ListedPerson(person.person_id, person.name, contact, person.latest_text or "")
