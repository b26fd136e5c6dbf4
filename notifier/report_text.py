"""Plain-text renderings for the terminal: import plans, roster tables, alert headers and lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from notifier.domain import Channel
from notifier.roster_plan import RosterPlan
from notifier.store.people import RosterEntry
from notifier.store.tables import Alert

PEOPLE_NAMED = 5
"""An alert's header names this many of the people it was addressed to, then counts the rest."""
LACKING = {Channel.SMS.value: "a phone that takes SMS", Channel.EMAIL.value: "an e-mail address"}


def plan_lines(plan: RosterPlan, *, detailed: bool) -> Iterator[str]:
    """A summary line, preceded, when `detailed`, by one line per person the plan touches."""
    if detailed:
        for record in plan.added:
            yield f"+ {record.person_id}  {record.name} ({record.station})"
        for change in plan.changed:
            yield f"~ {change.record.person_id}  {change.record.name}: {', '.join(change.fields)}"
        for person in plan.deactivated:
            yield f"- {person.person_id}  {person.name} ({person.station}): deactivate"
    counts = (
        f"{len(plan.added)} added, {len(plan.changed)} changed, "
        f"{len(plan.deactivated)} deactivated, {plan.unchanged} unchanged"
    )
    yield (
        f"roster (dry run, nothing written): would be {counts}" if detailed else f"roster: {counts}"
    )


def roster_table(entries: Sequence[RosterEntry]) -> Iterator[str]:
    """The roster as aligned columns, one person a line, with a count at the end."""
    header = ("person_id", "name", "station", "lang", "phone", "email", "channels", "groups")
    rows = [
        (
            entry.person_id + ("" if entry.active else " (inactive)"),
            entry.name,
            entry.station,
            entry.language,
            entry.phone or "",
            entry.email or "",
            ",".join(entry.channels),
            ";".join(entry.groups),
        )
        for entry in entries
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
    yield f"{len(rows)} people"


def alert_header_lines(alert: Alert, fallback: Mapping[str, int]) -> Iterator[str]:
    """Which alert, and to whom, by which channels, as the officer gave them."""
    yield f"alert {alert.id} ({alert.code}) {alert.kind}, {alert.severity}: {alert.title}"
    yield (
        f"status {alert.status}; raised {alert.created_at:%Y-%m-%d %H:%M:%S} UTC "
        f"by {alert.created_by}; {audience_text(alert)}; {channels_text(alert.channels, fallback)}"
    )


def audience_text(alert: Alert) -> str:
    """`stations NBO, GVA; groups wardens; people P1, P2`: only the parts that were given."""
    parts = []
    for part in ("stations", "groups", "people"):
        values = list(alert.audience.get(part, []))
        if values:
            shown = ", ".join(values[:PEOPLE_NAMED])
            if len(values) > PEOPLE_NAMED:
                shown += f" and {len(values) - PEOPLE_NAMED} more"
            parts.append(f"{part} {shown}")
    return "; ".join(parts) or "no one"


def channels_text(channels: Sequence[str], fallback: Mapping[str, int]) -> str:
    """`channels sms (3 by email instead, for lack of a phone that takes SMS)`."""
    text = f"channels {', '.join(channels)}"
    lacking = " or ".join(LACKING.get(channel, channel) for channel in channels)
    for channel, count in fallback.items():
        if count:
            text += f" ({count} by {channel} instead, for lack of {lacking})"
    return text


def fallback_text(fallback: Mapping[str, int], channels: Sequence[str]) -> str:
    """`; 3 of them by email, for lack of a phone that takes SMS`, or nothing."""
    lacking = " or ".join(LACKING.get(channel, channel) for channel in channels)
    return "".join(
        f"; {count} of them by {channel}, for lack of {lacking}"
        for channel, count in fallback.items()
        if count
    )


def alert_table(alerts: Sequence[Alert]) -> Iterator[str]:
    """Alerts as aligned columns, newest first, one a line, with a count at the end."""
    header = ("id", "code", "kind", "status", "created (UTC)", "recipients", "title")
    rows = [
        (
            str(alert.id),
            alert.code,
            alert.kind,
            alert.status,
            f"{alert.created_at:%Y-%m-%d %H:%M}",
            str(alert.recipients),
            alert.title,
        )
        for alert in alerts
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
    yield f"{len(rows)} alert{'' if len(rows) == 1 else 's'}"
