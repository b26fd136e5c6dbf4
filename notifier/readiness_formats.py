"""A station's readiness report as JSON values and as lines of text."""

from __future__ import annotations

from typing import Any

from notifier.costs import amount, shown_amount
from notifier.readiness import DrillFacts, StationReport, number, percent, yearly


def readiness_json(report: StationReport) -> dict[str, Any]:
    """The report as JSON values: times in ISO 8601 (UTC), seconds and amounts as numbers."""
    station, readiness, facts = report.station, report.readiness, report.facts
    roster = facts.roster
    costs = report.costs
    return {
        "station": {
            "code": station.code,
            "name": station.name,
            "country": station.country,
            "timezone": station.timezone,
            "people": station.people,
        },
        "window": {
            "start": readiness.window_start.isoformat(),
            "end": readiness.now.isoformat(),
        },
        "level": readiness.level,
        "criteria": [
            {"level": c.level, "key": c.key, "met": c.met, "text": c.text}
            for c in readiness.criteria
        ],
        "drills": [drill_json(drill) for drill in facts.drills],
        "schedules": facts.schedules,
        "missed_firings": facts.missed_firings,
        "focal_points": facts.focal_points,
        "roster": {
            "people": roster.people,
            "sms": roster.sms,
            "email": roster.email,
            "both": roster.both,
            "sms_percent": percent(roster.sms, roster.people),
            "email_percent": percent(roster.email, roster.people),
            "both_percent": percent(roster.both, roster.people),
        },
        "cost": {
            "currency": report.currency,
            "months": [
                {
                    "month": month.month,
                    "cost": float(amount(month.micros)),
                    "cost_micros": month.micros,
                    "messages": month.messages,
                    "unpriced": month.unpriced,
                }
                for month in costs
            ],
            "years": [
                {"year": year, "cost": float(amount(micros)), "cost_micros": micros}
                for year, micros in yearly(costs)
            ],
            "total": float(amount(sum(month.micros for month in costs))),
        },
    }


def drill_json(drill: DrillFacts) -> dict[str, Any]:
    """One drill's row: its alert, when, the station's recipients, acknowledged, p90 seconds."""
    return {
        "alert_id": drill.alert_id,
        "created_at": drill.created_at.isoformat(),
        "recipients": drill.recipients,
        "acknowledged": drill.acknowledged,
        "acknowledged_percent": drill.acknowledged_percent,
        "p90": drill.p90,
        "help_answers": drill.help_answers,
        "help_listed": drill.help_listed,
    }


def readiness_lines(report: StationReport) -> list[str]:
    """The report as text: the level, each criterion, the drills, the roster and the costs."""
    station, readiness, facts = report.station, report.readiness, report.facts
    return [
        f"{station.code} {station.name} ({station.country}, {station.timezone})",
        f"readiness level {readiness.level} of 5, over "
        f"{readiness.window_start:%Y-%m-%d} to {readiness.now:%Y-%m-%d} (UTC)",
        "",
        "criteria:",
        *(
            f"  [{'met' if c.met else 'MISSED'}] level {c.level}: {c.text}"
            for c in readiness.criteria
        ),
        "",
        f"drills ({len(facts.drills)}):",
        *(f"  {line}" for line in drill_lines(facts.drills)),
        "",
        roster_line(report),
        "",
        f"cost ({report.currency}):",
        *(
            f"  {month.month}  {shown_amount(month.micros)}  ({month.messages} messages"
            + (f", {month.unpriced} without a price)" if month.unpriced else ")")
            for month in report.costs
        ),
        *(f"  year {year}  {shown_amount(micros)}" for year, micros in yearly(report.costs)),
        f"  total  {shown_amount(sum(month.micros for month in report.costs))}",
    ]


def drill_lines(drills: tuple[DrillFacts, ...]) -> list[str]:
    """One line per drill, oldest first; "none" when there is none."""
    if not drills:
        return ["none"]
    return [
        f"{drill.created_at:%Y-%m-%d %H:%M} UTC  alert {drill.alert_id}  "
        f"{drill.acknowledged}/{drill.recipients} acknowledged "
        f"({number(drill.acknowledged_percent)} %)  p90 {p90_text(drill.p90)}"
        for drill in drills
    ]


def p90_text(seconds: float | None) -> str:
    """A p90 in minutes, or a dash before any answer."""
    return "-" if seconds is None else f"{number(seconds / 60)} min"


def roster_line(report: StationReport) -> str:
    """The roster's reach in one line."""
    roster = report.facts.roster
    return (
        f"roster: {roster.people} active, reachable by SMS {roster.sms} "
        f"({number(percent(roster.sms, roster.people))} %), by e-mail {roster.email} "
        f"({number(percent(roster.email, roster.people))} %), both {roster.both} "
        f"({number(percent(roster.both, roster.people))} %)"
    )
