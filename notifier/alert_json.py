"""The JSON shape of an alert, as the API answers it and `alert status --json` prints it."""

from __future__ import annotations

from typing import Any

from notifier.store.alert_views import AlertCounts
from notifier.store.tables import Alert

AUDIENCE_PARTS = ("stations", "groups", "people")


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
        "audience": given_audience(alert),
        "channels": alert.channels,
    }


def alert_row(alert: Alert) -> dict[str, Any]:
    """One alert of a list: its header and how many people it was sent to so far."""
    return alert_header(alert) | {"recipients": alert.recipients}


def given_audience(alert: Alert) -> dict[str, list[str]]:
    """The audience as the officer gave it: stations, groups and people by person_id."""
    return {part: list(alert.audience.get(part, [])) for part in AUDIENCE_PARTS}


def accepted_body(alert: Alert, recipients: int, fallback: dict[str, int]) -> dict[str, Any]:
    """The 202 answer to a new alert (and `alert send --json`): its id, size and fall-backs."""
    return {
        "id": alert.id,
        "code": alert.code,
        "kind": alert.kind,
        "status": alert.status,
        "recipients": recipients,
        "fallback": fallback,
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
        "fallback": counts.fallback,
    }


def _time_to_acknowledge(counts: AlertCounts) -> dict[str, float] | None:
    times = counts.time_to_acknowledge
    if times is None:
        return None
    return {
        "median_seconds": round(times.median_seconds, 1),
        "p90_seconds": round(times.p90_seconds, 1),
    }
