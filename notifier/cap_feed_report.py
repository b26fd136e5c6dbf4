"""What each CAP feed brought, for `notifier alert feeds`: its last poll and its last entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notifier.settings import CapFeed
from notifier.store import cap_feeds

_OUTCOME_WIDTH = 8


async def feed_report(session: AsyncSession, feed: CapFeed, entries: int) -> dict[str, Any]:
    """A feed's settings, last poll and `entries` last entries, as JSON values."""
    state = await cap_feeds.find_feed_state(session, feed.url)
    recent = (
        [] if state is None else await cap_feeds.recent_entries(session, state.id or 0, entries)
    )
    return {
        "url": feed.url,
        "every_seconds": feed.every_seconds,
        "stations": feed.stations,
        "checked_at": _moment(None if state is None else state.checked_at),
        "changed_at": _moment(None if state is None else state.changed_at),
        "failures": 0 if state is None else state.failures,
        "error": None if state is None else state.error,
        "entries": [
            {
                "entry": entry.entry,
                "outcome": entry.outcome,
                "detail": entry.detail,
                "alert_id": entry.alert_id,
                "seen_at": _moment(entry.seen_at),
            }
            for entry in recent
        ],
    }


def feed_text(report: dict[str, Any]) -> str:
    """A feed's report as lines for people."""
    stations = ", ".join(report["stations"]) or "all stations"
    lines = [f"{report['url']}  every {report['every_seconds']:g} s, for {stations}"]
    if report["checked_at"] is None:
        lines.append("  not polled yet")
    elif report["error"]:
        lines.append(
            f"  last poll {report['checked_at']} failed ({report['failures']} in a row): "
            f"{report['error']}"
        )
    else:
        changed = report["changed_at"] or "never"
        lines.append(f"  last poll {report['checked_at']}: read, last changed {changed}")
    for entry in report["entries"]:
        alert = f"alert {entry['alert_id']}  " if entry["alert_id"] is not None else ""
        detail = f"  ({entry['detail']})" if entry["detail"] else ""
        outcome = entry["outcome"].ljust(_OUTCOME_WIDTH)
        lines.append(f"  {entry['seen_at']}  {outcome} {alert}{entry['entry']}{detail}")
    return "\n".join(lines)


def _moment(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")
