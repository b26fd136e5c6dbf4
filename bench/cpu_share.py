"""Where the machine's CPU went over stretches of a benchmark run, read from `/proc` (Linux).

A `CpuSampler` reads, twice a second while a run lasts, the machine's busy and total CPU time
and the CPU time of each group of processes it is given (the daemons, PostgreSQL, the sinks,
the benchmark's own process). Afterwards `between(start, end)` tells, for any stretch of the
run (epoch seconds, as the database's timestamps), how busy the machine was and how many cores
each group used on average.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SAMPLE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Reading:
    """The CPU time used so far (seconds): by the whole machine, busy and in all, and by each
    group of processes."""

    at: float
    busy: float
    total: float
    interrupts: float
    groups: dict[str, float]


@dataclass(frozen=True, slots=True)
class CpuShare:
    """How the machine's CPU went over a stretch of `seconds`: the share of its cores busy,
    and the cores each group used on average (and the interrupts, charged to none)."""

    seconds: float
    busy: float
    cpus: int
    cores: dict[str, float]

    def describe(self) -> str:
        """'machine 97 % busy, 1.94 cores: daemons 1.10, PostgreSQL 0.05, …, the rest 0.30'
        over the stretch; the rest is busy time charged to none of the groups: processes
        that ended within it (a database connection closed meanwhile), other processes, the
        kernel's own work."""
        busy_cores = self.busy * self.cpus
        rest = busy_cores - sum(self.cores.values())
        groups = ", ".join(f"{name} {used:.2f}" for name, used in self.cores.items())
        return (
            f"machine {self.busy:.0%} busy, {busy_cores:.2f} cores: {groups}, the rest "
            f"{rest:.2f} ({self.seconds:.1f} s)"
        )


def machine_seconds() -> tuple[float, float, float]:
    """The machine's busy and total CPU time so far, all cores together (idle and I/O wait
    are not busy), and the part of its busy time spent on interrupts (on loopback, mostly the
    network's packets), which no process is charged with."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # guest time is counted within user time already
    idle = fields[3] + fields[4]
    interrupts = fields[5] + fields[6]
    ticks = os.sysconf("SC_CLK_TCK")
    return (total - idle) / ticks, total / ticks, interrupts / ticks


class CpuSampler:
    """Readings of the machine's and each group's CPU time, taken every `SAMPLE_SECONDS` in the
    background while the sampler is entered."""

    def __init__(self, groups: Mapping[str, Callable[[], float]]) -> None:
        self._groups = dict(groups)
        self.readings: list[Reading] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CpuSampler:
        self._read()
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._read()

    def between(self, start: float, end: float) -> CpuShare | None:
        """The CPU's use from the first reading at or after `start` to the last at or before
        `end`; None when they do not span a whole sampling period."""
        inside = [reading for reading in self.readings if start <= reading.at <= end]
        if len(inside) < 2 or inside[-1].at - inside[0].at < SAMPLE_SECONDS:
            return None
        first, last = inside[0], inside[-1]
        seconds = last.at - first.at
        total = last.total - first.total
        cores = {name: (last.groups[name] - first.groups[name]) / seconds for name in self._groups}
        cores["interrupts"] = (last.interrupts - first.interrupts) / seconds
        busy = (last.busy - first.busy) / total if total else 0.0
        return CpuShare(seconds, busy, os.cpu_count() or 1, cores)

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self._read()

    def _read(self) -> None:
        try:
            groups = {name: read() for name, read in self._groups.items()}
        except OSError:  # a process of a group has ended: the run is over
            return
        busy, total, interrupts = machine_seconds()
        self.readings.append(Reading(time.time(), busy, total, interrupts, groups))
