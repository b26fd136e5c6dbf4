"""A drill schedule as `drill list --json` and the API give it, and as a table (pure)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from notifier.store.drills import DrillEntry


def drill_json(entry: DrillEntry) -> dict[str, object]:
    """One drill: times in ISO 8601 with their offset; no next run while it is paused."""
    drill, firing = entry.drill, entry.next_run
    return {
        "name": drill.name,
        "stations": list(drill.stations),
        "groups": list(drill.groups),
        "channels": list(drill.channels),
        "cron": drill.cron,
        "timezone": drill.timezone,
        "paused": drill.paused,
        "next_run": None if firing is None else firing.local.isoformat(),
        "next_run_utc": None if firing is None else firing.utc.isoformat(),
        "last_alert_id": drill.last_alert_id,
        "missed": drill.missed,
    }


def drill_table(entries: Sequence[DrillEntry]) -> Iterator[str]:
    """The drills as aligned columns, one a line, with a count at the end."""
    header = ("name", "stations", "cron", "timezone", "next run", "last alert", "missed")
    rows = [
        (
            entry.drill.name,
            ",".join(entry.drill.stations),
            entry.drill.cron,
            entry.drill.timezone,
            "paused"
            if entry.next_run is None
            else f"{entry.next_run.local:%Y-%m-%d %H:%M %z} ({entry.next_run.utc:%H:%M} UTC)",
            "" if entry.drill.last_alert_id is None else str(entry.drill.last_alert_id),
            str(entry.drill.missed),
        )
        for entry in entries
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
    yield f"{len(rows)} drill{'' if len(rows) == 1 else 's'}"
