"""An alert preview's amounts and time as the console shows them (pure)."""

from __future__ import annotations

from notifier.alert_preview import Preview
from notifier.costs import shown_amount


def preview_figures(preview: Preview) -> dict[str, str]:
    """The preview's amounts and time as shown: `USD 1.25`, `8 min 20 s`."""
    cost = preview.cost
    return {
        "total": f"{cost.currency} {shown_amount(cost.total_micros)}",
        "sms": f"{cost.currency} {shown_amount(cost.sms_micros)}",
        "email": f"{cost.currency} {shown_amount(cost.email_micros)}",
        "time": duration(preview.seconds.total),
    }


def duration(seconds: float) -> str:
    """A time for people: `0.4 s`, `42 s`, `8 min 20 s`, `2 h 5 min`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
