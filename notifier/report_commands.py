"""`notifier report ALERT_ID`: one alert's report as text, JSON, CSV, HTML or PNG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from notifier.access import Principal
from notifier.errors import InputError
from notifier.report_output import ReportFormat, render
from notifier.settings import Settings
from notifier.store import alerts, schema
from notifier.store.engine import Database
from notifier.store.report_data import read_report


def add_report_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """The `report` parser; the caller sets its handler."""
    command = commands.add_parser(
        "report", parents=[common], help="an alert's report: reach, answers, times, who is missing"
    )
    command.add_argument("alert_id", type=int, metavar="ALERT_ID")
    command.add_argument(
        "--format",
        default=ReportFormat.TEXT.value,
        choices=[format_.value for format_ in ReportFormat],
        help="default: text",
    )
    command.add_argument(
        "--out", type=Path, metavar="FILE", help="write here (default: standard output)"
    )
    return command


async def report(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Write the alert's report to --out, or to standard output."""
    format_ = ReportFormat(args.format)
    if format_ is ReportFormat.PNG and args.out is None:
        raise InputError("--out: required for png")
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            alert = await alerts.get_alert(session, args.alert_id, principal)
            alert_report = await read_report(session, alert)
    rendered = render(alert, alert_report, format_)
    if args.out is None:
        sys.stdout.buffer.write(rendered.content)
        sys.stdout.buffer.flush()
    else:
        args.out.write_bytes(rendered.content)
    return 0
