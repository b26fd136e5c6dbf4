"""`notifier report ALERT_ID` (one alert's report as text, JSON, CSV, HTML or PNG) and
`notifier report --station CODE` (a station's readiness as text, JSON or HTML)."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from notifier.access import Principal
from notifier.clock import Clock, SystemClock
from notifier.errors import InputError
from notifier.readiness_output import ReadinessFormat, render_readiness
from notifier.report_output import ReportFormat, render
from notifier.settings import Settings
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.readiness_data import station_report
from notifier.store.report_data import read_report

MAX_MONTHS = 60
"""The longest window `--months` takes, as `readiness.window_months` allows."""


def add_report_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """The `report` parser; the caller sets its handler."""
    command = commands.add_parser(
        "report",
        parents=[common],
        help="an alert's report (ALERT_ID), or a station's readiness (--station CODE)",
    )
    command.add_argument(
        "alert_id", type=int, metavar="ALERT_ID", nargs="?", help="the alert to report on"
    )
    command.add_argument(
        "--station", metavar="CODE", type=str.upper, help="a station's readiness, not an alert's"
    )
    command.add_argument(
        "--months",
        type=_months,
        metavar="N",
        help=f"with --station: the window, 1-{MAX_MONTHS} months (default readiness.window_months)",
    )
    command.add_argument(
        "--format",
        default=ReportFormat.TEXT.value,
        choices=[format_.value for format_ in ReportFormat],
        help="default: text; with --station only text, json or html",
    )
    command.add_argument(
        "--out", type=Path, metavar="FILE", help="write here (default: standard output)"
    )
    command.set_defaults(check_usage=partial(_check_usage, command))
    return command


def _months(value: str) -> int:
    try:
        months = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of months: {value!r}") from None
    if not 1 <= months <= MAX_MONTHS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_MONTHS}, got {months}")
    return months


def _check_usage(command: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exactly one of ALERT_ID and --station, and options that fit the one given (exit 2)."""
    if (args.alert_id is None) == (args.station is None):
        command.error("give exactly one of ALERT_ID and --station CODE")
    if args.station is None and args.months is not None:
        command.error("--months: only with --station")
    readiness_formats = {format_.value for format_ in ReadinessFormat}
    if args.station is not None and args.format not in readiness_formats:
        command.error(
            f"--format {args.format}: not with --station (choose from "
            f"{', '.join(sorted(readiness_formats))})"
        )


async def report(
    args: argparse.Namespace, settings: Settings, principal: Principal, clock: Clock | None = None
) -> int:
    """Write the alert's report, or the station's readiness, to --out or standard output."""
    if args.station is not None:
        return await readiness(args, settings, principal, clock or SystemClock())
    format_ = ReportFormat(args.format)
    if format_ is ReportFormat.PNG and args.out is None:
        raise InputError("--out: required for png")
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            alert = await alerts.get_alert(session, args.alert_id, principal)
            alert_report = await read_report(session, alert, settings.costs.currency)
    _write(args.out, render(alert, alert_report, format_).content)
    return 0


async def readiness(
    args: argparse.Namespace, settings: Settings, principal: Principal, clock: Clock
) -> int:
    """Write the station's readiness now, over `--months` (default `readiness.window_months`)."""
    if args.months is not None:
        window = settings.readiness.model_copy(update={"window_months": args.months})
        settings = settings.model_copy(update={"readiness": window})
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            found = await station_report(session, args.station, principal, settings, clock.now())
    _write(args.out, render_readiness(found, ReadinessFormat(args.format)).content)
    return 0


def _write(out: Path | None, content: bytes) -> None:
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(content)
