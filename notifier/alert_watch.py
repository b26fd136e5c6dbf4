"""Following an alert from the command line: counts read twice a second, time left, a live table.

`alert send --wait` follows the sending, until every delivery is settled; `alert status --watch`
follows the answers too, until the alert is closed or cancelled.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from notifier.access import Principal
from notifier.domain import OPEN_ALERT_STATUSES, AlertStatus, Channel, DeliveryStatus
from notifier.progress import (
    OBSERVATION_SECONDS,
    Estimate,
    Sample,
    describe,
    estimate,
    recent,
    stalled,
)
from notifier.report_text import alert_header_lines
from notifier.settings import Settings
from notifier.store import alert_views, alerts
from notifier.store.alert_views import CHANNEL_STATES, AlertCounts
from notifier.store.engine import Database
from notifier.store.tables import Alert

STATES = tuple(state.value for state in CHANNEL_STATES)
UNSETTLED = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value)
REFRESH_SECONDS = 0.5
LINE_SECONDS = 5.0
STALL_SECONDS = 20.0
KEEP_SECONDS = max(OBSERVATION_SECONDS, STALL_SECONDS) + 5.0
AWAITING_ANSWERS = "every message is out; following the answers until the alert is closed"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An alert and its counts as read at one moment; `expected` while its list is prepared."""

    alert: Alert
    counts: AlertCounts
    expected: int | None = None

    @property
    def dispatching(self) -> bool:
        """Whether deliveries of the alert may still be pending."""
        return self.alert.status == AlertStatus.DISPATCHING.value

    @property
    def open(self) -> bool:
        """Whether the alert still takes answers: neither closed nor cancelled."""
        return self.alert.status in OPEN_ALERT_STATUSES


@dataclass(frozen=True, slots=True)
class ChannelProgress:
    """One channel's deliveries per state and its estimate of time left."""

    channel: str
    states: Mapping[str, int]
    estimate: Estimate

    @property
    def total(self) -> int:
        """Every delivery of the channel, settled or not."""
        return sum(self.states.values())

    @property
    def done(self) -> int:
        """Deliveries no longer queued or being sent."""
        return self.total - sum(self.states[state] for state in UNSETTLED)


async def read_snapshot(database: Database, alert_id: int, principal: Principal) -> Snapshot:
    """The alert and its counts now, in one transaction."""
    async with database.session() as session:
        alert = await alerts.get_alert(session, alert_id, principal)
        counts = await alert_views.alert_counts(session, alert)
        expected = None
        if alert.materialised_at is None and alert.status == AlertStatus.DISPATCHING.value:
            expected = await alert_views.audience_size(session, alert_id)
    return Snapshot(alert, counts, expected)


def rates_of(settings: Settings) -> dict[str, float]:
    """The configured send rate of each channel, per second."""
    return {
        Channel.SMS.value: settings.sms.rate_per_second,
        Channel.EMAIL.value: settings.email.rate_per_second,
        Channel.WHATSAPP.value: settings.sms.whatsapp_rate_per_second,
    }


def status_lines(snapshot: Snapshot, rates: Mapping[str, float]) -> Iterator[str]:
    """The alert's header, audience and answers, then a table of its channels."""
    yield from alert_header_lines(snapshot.alert, snapshot.counts.fallback)
    yield _audience_line(snapshot)
    yield ""
    rows = channel_rows(snapshot, rates, {}, 0.0)
    header = ("channel", "done/total", *STATES)
    table = [
        (row.channel, f"{row.done}/{row.total}", *map(str, row.states.values())) for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *table, strict=True)]
    for index, cells in enumerate((header, *table)):
        line = "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        if snapshot.dispatching:
            line += "  " + ("time left" if index == 0 else _time_left(snapshot, rows[index - 1]))
        yield line.rstrip()


def channel_rows(
    snapshot: Snapshot,
    rates: Mapping[str, float],
    history: Mapping[str, Sequence[Sample]],
    now: float,
) -> list[ChannelProgress]:
    """The alert's channels, and any other that carries deliveries (after a fail-over)."""
    rows = []
    for channel, states in snapshot.counts.channels.items():
        if channel not in snapshot.alert.channels and not any(states.values()):
            continue
        ordered = {state: states.get(state, 0) for state in STATES}
        remaining = sum(ordered[state] for state in UNSETTLED)
        rate = rates.get(channel, 1.0)
        rows.append(
            ChannelProgress(
                channel, ordered, estimate(remaining, rate, history.get(channel, ()), now)
            )
        )
    return rows


class ProgressTracker:
    """The recent progress of one alert, sample by sample: observed rates and stalls."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        self._rates = rates
        self._history: dict[str, tuple[Sample, ...]] = {}
        self._activity: tuple[Sample, ...] = ()

    def record(self, snapshot: Snapshot, now: float) -> list[ChannelProgress]:
        """Add the snapshot's counts as samples at `now`; each channel's progress."""
        rows = channel_rows(snapshot, self._rates, {}, now)
        for row in rows:
            samples = (*self._history.get(row.channel, ()), (now, row.done))
            self._history[row.channel] = recent(samples, now, KEEP_SECONDS)
        # Deliveries appearing (the audience being prepared) count as activity as much as sends.
        activity = sum(row.done + row.total for row in rows)
        self._activity = recent((*self._activity, (now, activity)), now, KEEP_SECONDS)
        return channel_rows(snapshot, self._rates, self._history, now)

    def note(self, snapshot: Snapshot, now: float) -> str:
        """What the officer should know beyond the counts: a list being prepared, a stall."""
        if not snapshot.dispatching:
            return ""
        if stalled(self._activity, now, STALL_SECONDS):
            return (
                f"no progress for {STALL_SECONDS:.0f}s: check that the daemon "
                "(`notifier serve`) is running"
            )
        if snapshot.expected is not None:
            return f"preparing the list of {snapshot.expected} people"
        return ""


async def watch(
    database: Database,
    alert_id: int,
    principal: Principal,
    settings: Settings,
    console: Console,
    *,
    answers: bool = False,
) -> Snapshot:
    """Follow the alert until it settles (with `answers`, until it is closed or cancelled) or
    Ctrl-C, which stops the watching, not the alert."""
    stop = asyncio.Event()
    with _interrupt_sets(stop):
        final = await follow(
            database, alert_id, principal, rates_of(settings), console, stop=stop, answers=answers
        )
    if final.dispatching:
        print(
            f"stopped watching; alert {alert_id} is still being sent "
            f"(`notifier alert cancel {alert_id}` stops it)",
            file=sys.stderr,
        )
    elif answers and final.open:
        print(
            f"stopped watching; alert {alert_id} still takes answers "
            f"(`notifier alert close {alert_id}` closes it)",
            file=sys.stderr,
        )
    return final


async def follow(
    database: Database,
    alert_id: int,
    principal: Principal,
    rates: Mapping[str, float],
    console: Console,
    *,
    stop: asyncio.Event,
    answers: bool = False,
    refresh: float = REFRESH_SECONDS,
    line_every: float = LINE_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
) -> Snapshot:
    """Show the alert's progress until it is no longer dispatching or `stop` is set; with
    `answers`, its answers as they come, until it is closed or cancelled.

    On a terminal, a live table redrawn every `refresh` seconds; elsewhere (a pipe, a log),
    one plain line every `line_every` seconds while messages are sent, then one whenever the
    answers change (at most every `line_every` seconds), and a last one at the end.
    """
    tracker = ProgressTracker(rates)
    # Transient: the caller prints the final status in place of the last table.
    live = (
        Live(console=console, auto_refresh=False, transient=True) if console.is_terminal else None
    )
    lines = _PlainLines(line_every)
    with live or nullcontext():
        while True:
            snapshot = await read_snapshot(database, alert_id, principal)
            now = monotonic()
            rows = tracker.record(snapshot, now)
            note = tracker.note(snapshot, now)
            if answers and snapshot.open and not snapshot.dispatching:
                note = AWAITING_ANSWERS
            finished = stop.is_set() or not (snapshot.open if answers else snapshot.dispatching)
            if live is not None:
                live.update(progress_table(snapshot, rows, note), refresh=True)
            else:
                line = progress_line(snapshot, rows, note)
                if lines.due(line, now, last=finished, repeat=snapshot.dispatching):
                    console.print(line, markup=False, highlight=False, soft_wrap=True)
            if finished:
                return snapshot
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), refresh)


class _PlainLines:
    """When the plain view prints: the first and the last line; in between one every `every`
    seconds at most, and only a changed one unless told to `repeat` (a stall shows so)."""

    def __init__(self, every: float) -> None:
        self._every = every
        self._printed_at: float | None = None
        self._printed = ""

    def due(self, line: str, now: float, *, last: bool, repeat: bool) -> bool:
        """Whether to print `line` now (if so, it is noted as printed)."""
        if last or self._printed_at is None:
            due = True
        elif now - self._printed_at < self._every:
            due = False
        else:
            due = repeat or line != self._printed
        if due:
            self._printed_at, self._printed = now, line
        return due


def progress_table(snapshot: Snapshot, rows: Sequence[ChannelProgress], note: str) -> Table:
    """The live view: per channel a bar, done/total and the count per state; under it the
    time left per channel, the audience and answers, and any note."""
    alert = snapshot.alert
    time_left = [f"{row.channel + ':':<6} {_time_left(snapshot, row)}" for row in rows]
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=0,
        title=f"alert {alert.id} ({alert.code}) {alert.title}: {alert.status}",
        caption="\n".join(filter(None, (*time_left, _audience_line(snapshot), note))),
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("channel")
    table.add_column("done/total", justify="right")
    table.add_column("", min_width=8, max_width=30)
    for state in STATES:
        table.add_column(state, justify="right")
    for row in rows:
        table.add_row(
            row.channel,
            f"{row.done}/{row.total}",
            ProgressBar(total=max(row.total, 1), completed=row.done),
            *map(str, row.states.values()),
        )
    return table


def progress_line(snapshot: Snapshot, rows: Sequence[ChannelProgress], note: str) -> str:
    """The plain view: `alert 7 dispatching | sms 30/40 (8 queued, …), rate limit ~1s … | …`."""
    parts = [f"alert {snapshot.alert.id} {snapshot.alert.status}"]
    for row in rows:
        states = ", ".join(f"{count} {state}" for state, count in row.states.items() if count)
        parts.append(
            f"{row.channel} {row.done}/{row.total}"
            + (f" ({states})" if states else "")
            + f", {_time_left(snapshot, row)}"
        )
    parts.append(_audience_line(snapshot))
    if note:
        parts.append(note)
    return " | ".join(parts)


@contextmanager
def _interrupt_sets(stop: asyncio.Event) -> Iterator[None]:
    """While watching, Ctrl-C sets `stop` instead of interrupting the program."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread; Windows
        installed = False
    else:
        installed = True
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def _time_left(snapshot: Snapshot, row: ChannelProgress) -> str:
    if row.estimate.remaining == 0 and snapshot.expected is not None:
        return "waiting for the list"
    return describe(row.estimate)


def _audience_line(snapshot: Snapshot) -> str:
    counts = snapshot.counts
    responses = counts.responses
    recipients = (
        f"recipients {counts.recipients} of {snapshot.expected} (list being prepared)"
        if snapshot.expected is not None
        else f"recipients {counts.recipients}"
    )
    line = (
        f"{recipients}; safe {responses.get('safe', 0)}, help {responses.get('help', 0)}, "
        f"other {responses.get('other', 0)}, not answered {counts.not_answered}"
    )
    times = counts.time_to_acknowledge
    if times is not None:
        line += (
            f"; time to acknowledge: median {_duration(times.median_seconds)}, "
            f"90% within {_duration(times.p90_seconds)}"
        )
    skipped = []
    if counts.skipped_inactive:
        skipped.append(f"{counts.skipped_inactive} inactive")
    if counts.skipped_opted_out:
        skipped.append(f"{counts.skipped_opted_out} opted out of SMS")
    if skipped:
        line += f"; skipped {', '.join(skipped)}"
    return line


def _duration(seconds: float) -> str:
    """Seconds as an officer reads them: 42 s, 3 min 5 s, 1 h 20 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
