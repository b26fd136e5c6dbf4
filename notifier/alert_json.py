"""The JSON shape of an alert, as the API answers it and `alert status --json` prints it."""

from __future__ import annotations

from typing import Any

from notifier.store.alert_views import AlertCounts
from notifier.store.tables import Alert


def alert_header(alert: Alert) -> dict[str, Any]:
    """What identifies an alert: the list's rows and the start of its full view."""
    return {
        "id": alert.id,
        "code": alert.code,
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "status": alert.status,
        "created_at": alert.created_at.isoformat(),
        "created_by": alert.created_by,
        "stations": alert.audience.get("scope", []),
        "channels": alert.channels,
    }


def alert_detail(alert: Alert, counts: AlertCounts, audience: int | None = None) -> dict[str, Any]:
    """The alert with its counts; `audience` is its size while its list is still prepared."""
    return alert_header(alert) | {
        "recipients": max(counts.recipients, audience or 0),
        "acknowledged": counts.acknowledged,
        "not_answered": counts.not_answered,
        "responses": counts.responses,
        "time_to_acknowledge": _time_to_acknowledge(counts),
        "channels": counts.channels,
        "skipped": {"inactive": counts.skipped_inactive, "opted_out": counts.skipped_opted_out},
    }


def _time_to_acknowledge(counts: AlertCounts) -> dict[str, float] | None:
    times = counts.time_to_acknowledge
    if times is None:
        return None
    return {
        "median_seconds": round(times.median_seconds, 1),
        "p90_seconds": round(times.p90_seconds, 1),
    }
