"""Plain-text renderings for the terminal: import plans and roster tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from notifier.roster_plan import RosterPlan
from notifier.store.people import RosterEntry


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
    header = ("person_id", "name", "station", "lang", "phone", "email", "groups")
    rows = [
        (
            entry.person_id + ("" if entry.active else " (inactive)"),
            entry.name,
            entry.station,
            entry.language,
            entry.phone or "",
            entry.email or "",
            ";".join(entry.groups),
        )
        for entry in entries
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
    yield f"{len(rows)} people"
