"""An alert's report as JSON, as CSV (one row per recipient) and as text for the terminal."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from notifier.alert_json import alert_header
from notifier.costs import MessageCosts, amount, shown_amount
from notifier.csv_cells import cell
from notifier.domain import Channel
from notifier.reports import AlertReport, RecipientFacts
from notifier.store.tables import Alert

CSV_COLUMNS = (
    "person_id",
    "name",
    "station",
    "phone",
    "email",
    "response",
    "acknowledged_at",
    "seconds_to_acknowledge",
    *(f"{channel.value}_state" for channel in Channel),
)
"""A channel's state is the best any of the person's messages on it reached, empty if none."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def seconds(value: float | None) -> float | None:
    """Seconds as the report shows them: to a tenth."""
    return None if value is None else round(value, 1)


def report_json(alert: Alert, report: AlertReport) -> dict[str, Any]:
    """The report's JSON: the figures, the people not answered, the failures, the costs (when
    they were read), the curve."""
    times = report.time_to_acknowledge
    costs: dict[str, Any] = {}
    if report.costs is not None:
        costs = {"sms_segments": report.costs.sms_segments, "cost": cost_json(report.costs)}
    reached: dict[str, Any] = {
        channel: {"sent": reach.sent, "delivered": reach.delivered, "failed": reach.failed}
        for channel, reach in report.reached.items()
    }
    return {
        "alert": alert_header(alert),
        "recipients": report.recipients,
        "reached": reached | {"any": report.reached_any},
        "acknowledged": report.acknowledged,
        "acknowledged_percent": report.acknowledged_percent,
        "responses": report.responses,
        "time_to_acknowledge": {
            "p50": seconds(times.p50),
            "p90": seconds(times.p90),
            "p99": seconds(times.p99),
        },
        "by_station": [
            {
                "station": row.station,
                "recipients": row.recipients,
                "acknowledged": row.acknowledged,
                "p50": seconds(row.p50),
                "p90": seconds(row.p90),
            }
            for row in report.by_station
        ],
        "not_answered": [_person(facts) for facts in report.not_answered],
        "failures": [{"reason": reason, "count": count} for reason, count in report.failures],
        **costs,
        "curve": [[seconds(at), count] for at, count in report.curve],
    }


def cost_json(costs: MessageCosts) -> dict[str, Any]:
    """The cost in the currency, as JSON numbers (exact below a billion: 15 digits), and how
    many messages were sent unpriced (before prices were kept: in no amount)."""
    return {
        "currency": costs.currency,
        "sms": float(amount(costs.sms_micros)),
        "email": float(amount(costs.email_micros)),
        "whatsapp": float(amount(costs.whatsapp_micros)),
        "voice": float(amount(costs.voice_micros)),
        "total": float(amount(costs.total_micros)),
        "unpriced": costs.unpriced,
    }


def cost_text(costs: MessageCosts) -> str:
    """`USD 12.50 (SMS 12.00, 1,600 segments; e-mail 0.50)`, and the messages sent unpriced."""
    text = (
        f"{costs.currency} {shown_amount(costs.total_micros)} "
        f"(SMS {shown_amount(costs.sms_micros)}, {costs.sms_segments:,} segments; "
        f"e-mail {shown_amount(costs.email_micros)}"
    )
    if costs.whatsapp_micros:
        text += f"; WhatsApp {shown_amount(costs.whatsapp_micros)}"
    if costs.voice_micros:
        text += f"; calls {shown_amount(costs.voice_micros)}"
    text += ")"
    if costs.unpriced == 1:
        text += "; 1 message sent before prices were kept is not counted"
    elif costs.unpriced:
        text += f"; {costs.unpriced:,} messages sent before prices were kept are not counted"
    return text


def _person(facts: RecipientFacts) -> dict[str, Any]:
    return {
        "person_id": facts.person_id,
        "name": facts.name,
        "station": facts.station,
        "phone": facts.phone,
        "email": facts.email,
    }


def report_csv(report: AlertReport) -> str:
    """One row per recipient, by person_id, under a header of `CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in report.lines:
        facts = line.facts
        at = facts.first_response_at
        writer.writerow(
            (
                facts.person_id,
                cell(facts.name),
                facts.station,
                facts.phone or "",
                facts.email or "",
                facts.response or "",
                at.isoformat() if at else "",
                "" if line.seconds_to_acknowledge is None else seconds(line.seconds_to_acknowledge),
                *_states(facts),
            )
        )
    return out.getvalue()


def _states(facts: RecipientFacts) -> list[str]:
    """The person's state on each channel, in `Channel` order; empty where nothing went."""
    states = list(facts.channel_states) + [None] * (len(Channel) - len(facts.channel_states))
    return [state or "" for state in states[: len(Channel)]]


def shown(text: str) -> str:
    """Text on one line of a terminal: control characters become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def report_lines(alert: Alert, report: AlertReport) -> Iterator[str]:
    """The report for the terminal: figures first, then the people not answered."""
    yield f"alert {alert.id} ({alert.code}) {alert.kind}, {alert.severity}: {shown(alert.title)}"
    yield f"raised {alert.created_at:%Y-%m-%d %H:%M:%S} UTC; status {alert.status}"
    reach = "; ".join(
        f"{channel} {r.sent} sent, {r.delivered} delivered, {r.failed} failed"
        for channel, r in report.reached.items()
    )
    yield f"recipients {report.recipients}; reached {report.reached_any} ({reach})"
    answers = ", ".join(f"{kind} {count}" for kind, count in report.responses.items())
    yield (
        f"acknowledged {report.acknowledged} ({report.acknowledged_percent}%): {answers}; "
        f"not answered {len(report.not_answered)}"
    )
    times = report.time_to_acknowledge
    yield (
        f"time to acknowledge: p50 {_duration(times.p50)}, p90 {_duration(times.p90)}, "
        f"p99 {_duration(times.p99)}"
    )
    if report.costs is not None:
        yield f"cost: {cost_text(report.costs)}"
    yield from _station_lines(report)
    if report.failures:
        yield ""
        yield "failures:"
        for reason, count in report.failures:
            yield f"  {count:>6}  {shown(reason)}"
    if report.not_answered:
        yield ""
        yield f"not answered ({len(report.not_answered)}):"
        for facts in report.not_answered:
            yield (
                f"  {facts.person_id}  {shown(facts.name)} ({facts.station})  "
                f"{facts.phone or 'no phone'}  {facts.email or 'no e-mail'}"
            )


def _station_lines(report: AlertReport) -> Iterator[str]:
    if not report.by_station:
        return
    yield ""
    yield "station  recipients  acknowledged  p50  p90"
    for row in report.by_station:
        yield (
            f"{row.station:<7}  {row.recipients:>10}  {row.acknowledged:>12}  "
            f"{_duration(row.p50)}  {_duration(row.p90)}"
        )


def _duration(value: float | None) -> str:
    """Seconds as `42.0 s`, or `-` before any answer."""
    return "-" if value is None else f"{seconds(value)} s"
