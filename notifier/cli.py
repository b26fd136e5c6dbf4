"""The `notifier` command line: parse arguments, load the configuration once, run one command.

Exit status: 0 success, 1 bad input (configuration, files, arguments the command rejects),
2 usage errors (what argparse rejects).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from notifier import (
    alert_commands,
    audit_commands,
    cap_commands,
    check,
    demo,
    drill_commands,
    report_commands,
    report_text,
    sources,
    token_commands,
)
from notifier.access import Principal
from notifier.daemon import serve
from notifier.domain import Role
from notifier.errors import InputError, NotifierError
from notifier.logs import configure_logging
from notifier.roster_import import import_roster, import_stations
from notifier.secret_keys import new_secret_key
from notifier.settings import Settings, load_settings, require_serve_secrets
from notifier.store import people, schema, tokens
from notifier.store.engine import Database

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the process's exit status.

    A reader that stops early (`notifier roster list | head -5`) ends the command quietly with
    status 0, as it would had the reader taken everything: it stopped reading by its own choice,
    and a shell's `pipefail` should not report a command that did what was asked.
    """
    try:
        status = _run_command(argv)
        sys.stdout.flush()  # inside the `try`: a pipe closed early shows here, not at exit
    except BrokenPipeError:
        _stdout_to_devnull()
        return 0
    return status


def _stdout_to_devnull() -> None:
    """Point standard output at the null device, so that Python's final flush is silent."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file: nothing will be flushed to it
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _run_command(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    if hasattr(args, "check_usage"):  # what one argument means depends on another's presence
        args.check_usage(args)
    if args.handler == run_secret:  # `==`: with `is`, mypy would narrow run_secret to Any
        return run_secret()
    try:
        settings = load_settings(args.config, os.environ)
        configure_logging(settings.logging)
        if args.handler is run_serve:
            require_serve_secrets(settings)
            return serve(settings)
        if args.handler is run_demo:
            return demo.run(settings, contacts=args.contacts, actor=_actor())
        handler: Handler = args.handler
        return asyncio.run(handler(args, settings))
    except NotifierError as error:
        print(error, file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise
    except (OSError, DBAPIError) as error:
        print(f"error: database or file unavailable: {_first_line(error)}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each takes `--config FILE` after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    parser = argparse.ArgumentParser(
        prog="notifier", description="Emergency notification daemon and tools."
    )
    parser.add_argument("--version", action="version", version=f"notifier {_package_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    command = commands.add_parser("serve", parents=[common], help="run the daemon")
    command.set_defaults(handler=run_serve)

    command = commands.add_parser(
        "secret", parents=[common], help="print a new random secret key for security.secret_key"
    )
    command.set_defaults(handler=run_secret)

    command = commands.add_parser(
        "demo", parents=[common], help="set up the embedded database and serve"
    )
    command.add_argument("--contacts", type=Path, default=Path("contacts"), metavar="DIR")
    command.set_defaults(handler=run_demo)
    command = command.add_subparsers(title="commands", metavar="COMMAND").add_parser(
        "reply",
        parents=[common],
        help="answer the running demo by SMS, as Twilio would post it",
        description="Post a signed Twilio inbound-SMS webhook from PHONE saying TEXT to the "
        "demo started in this directory, and print what it answered. With --curl, print the "
        "same request as a curl command instead of sending it.",
    )
    command.add_argument("phone", metavar="PHONE", help="the sender, in E.164: +254711756237")
    command.add_argument("text", metavar="TEXT", help="what the SMS says: 1 (safe), 2 (help), …")
    command.add_argument("--curl", action="store_true", help="print the curl command only")
    command.set_defaults(handler=run_demo_reply)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        title="commands", metavar="COMMAND"
    )
    command = db.add_parser("upgrade", parents=[common], help="create or migrate the database")
    command.set_defaults(handler=run_db_upgrade)

    stations = commands.add_parser("stations", help="duty stations").add_subparsers(
        title="commands", metavar="COMMAND"
    )
    command = stations.add_parser(
        "import", parents=[common], help="add or update stations from a CSV or JSON file"
    )
    command.add_argument("file", type=Path, metavar="FILE")
    command.set_defaults(handler=run_stations_import)

    roster = commands.add_parser("roster", help="personnel rosters").add_subparsers(
        title="commands", metavar="COMMAND"
    )
    command = roster.add_parser(
        "import", parents=[common], help="add or update people from a CSV or JSON file"
    )
    command.add_argument("file", type=Path, metavar="FILE")
    command.add_argument(
        "--dry-run", action="store_true", help="show what would change; write nothing"
    )
    command.add_argument(
        "--prune", action="store_true", help="deactivate people of the file's stations it omits"
    )
    command.set_defaults(handler=run_roster_import)
    command = roster.add_parser("list", parents=[common], help="show the roster")
    command.add_argument("--station", metavar="CODE")
    command.add_argument("--all", action="store_true", help="include deactivated people")
    command.add_argument("--json", action="store_true", help="print JSON")
    command.set_defaults(handler=run_roster_list)

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        title="commands", metavar="COMMAND"
    )
    command = token.add_parser(
        "create", parents=[common], help="create an API token and print it once"
    )
    command.add_argument("--name", required=True)
    command.add_argument("--role", required=True, choices=[role.value for role in Role])
    command.add_argument("--stations", default="", metavar="CODE,…")
    command.set_defaults(handler=run_token_create)
    command = token.add_parser(
        "list", parents=[common], help="show the API tokens: role, stations, use, revocation"
    )
    command.add_argument("--json", action="store_true", help="print JSON")
    command.set_defaults(handler=run_token_list)
    command = token.add_parser(
        "revoke", parents=[common], help="revoke an API token: refused at once from then on"
    )
    command.add_argument("name", metavar="NAME")
    command.set_defaults(handler=run_token_revoke)

    _add_alert_commands(commands, common)
    report_commands.add_report_command(commands, common).set_defaults(handler=run_report)
    drill_commands.add_commands(commands, common, _principal)
    audit_commands.add_commands(commands, common)

    command = commands.add_parser(
        "check",
        parents=[common],
        help="check the configuration, the database, SMTP and Twilio: one line each",
    )
    command.set_defaults(handler=check.run)
    return parser


def _add_alert_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    alert = commands.add_parser(
        "alert", help="raise, follow, cancel and close alerts"
    ).add_subparsers(title="commands", metavar="COMMAND")
    command = alert.add_parser("send", parents=[common], help="raise an alert; the daemon sends it")
    command.add_argument("--stations", metavar="CODE,…", help="stations whose rosters receive it")
    command.add_argument("--groups", metavar="GROUP,…", help="only these groups of the stations")
    command.add_argument("--people", metavar="ID,…", help="these people too, by person_id")
    command.add_argument("--title", metavar="TEXT", help="required, unless --from-draft")
    command.add_argument("--message", metavar="TEXT", help="required, unless --from-draft")
    command.add_argument(
        "--severity", metavar="extreme|severe|moderate|minor", help="default: severe"
    )
    command.add_argument("--channels", metavar="sms,email,voice", help="default: sms,email")
    command.add_argument("--kind", metavar="emergency|drill|test", help="default: emergency")
    command.add_argument(
        "--wait", action="store_true", help="show progress until every delivery is settled"
    )
    command.add_argument(
        "--preview",
        action="store_true",
        help="show who would get what, the cost and the time; send nothing",
    )
    command.add_argument("--json", action="store_true", help="print the API's JSON")
    command.add_argument(
        "--from-draft",
        type=int,
        metavar="ID",
        help="send the draft alert ID (made from a CAP message) as it stands",
    )
    command.set_defaults(
        handler=run_alert_send, check_usage=partial(alert_commands.check_send_usage, command)
    )

    command = alert.add_parser("status", parents=[common], help="an alert's progress and answers")
    command.add_argument("alert_id", type=int, metavar="ALERT_ID")
    command.add_argument("--json", action="store_true", help="print the API's JSON")
    command.add_argument(
        "--watch", action="store_true", help="follow sends and answers until it is closed"
    )
    command.set_defaults(handler=run_alert_status)

    command = alert.add_parser("cancel", parents=[common], help="stop sending an alert")
    command.add_argument("alert_id", type=int, metavar="ALERT_ID")
    command.set_defaults(handler=run_alert_cancel)

    command = alert.add_parser("list", parents=[common], help="the newest alerts first")
    command.add_argument(
        "--status",
        metavar="STATUS",
        help="active, draft, dispatching, dispatched, cancelled or closed",
    )
    command.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N (1 to 1000; default 100)"
    )
    command.add_argument("--json", action="store_true", help="print the API's JSON")
    command.set_defaults(handler=run_alert_list)

    command = alert.add_parser(
        "close", parents=[common], help="close an alert: answers are no longer taken"
    )
    command.add_argument("alert_id", type=int, metavar="ALERT_ID")
    command.set_defaults(handler=run_alert_close)
    cap_commands.add_commands(alert, common, _principal)


async def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatched by `main` outside any event loop; listed for the parser."""
    raise AssertionError("serve runs its own event loop")


def run_secret() -> int:
    """Print a new secret key; it reads no configuration, so it works before there is one."""
    print(new_secret_key())
    print(
        "(set it as NOTIFIER_SECURITY__SECRET_KEY; a new key makes the acknowledgement links "
        "already sent invalid)",
        file=sys.stderr,
    )
    return 0


async def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatched by `main` outside any event loop; listed for the parser."""
    raise AssertionError("demo runs its own event loop")


async def run_demo_reply(args: argparse.Namespace, settings: Settings) -> int:
    """Answer the running demo by SMS (the HTTP request blocks: it runs in a thread)."""
    return await asyncio.to_thread(demo.reply, settings, args.phone, args.text, curl=args.curl)


async def run_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Create the schema, or migrate it to this version's."""
    async with Database.open(settings.database.url) as database:
        before, after = await schema.upgrade(database)
    if before == after:
        print(f"database schema is current ({after})")
    else:
        print(f"database schema upgraded from {before or 'empty'} to {after}")
    return 0


async def run_stations_import(args: argparse.Namespace, settings: Settings) -> int:
    """Upsert stations from a file."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        changes = await import_stations(
            database, args.file, actor=_actor(), source=sources.command_line()
        )
    print(
        f"stations: {changes.added} added, {changes.changed} changed, {changes.unchanged} unchanged"
    )
    return 0


async def run_roster_import(args: argparse.Namespace, settings: Settings) -> int:
    """Upsert people from a roster file, or show what that would do."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        plan = await import_roster(
            database,
            args.file,
            actor=_actor(),
            source=sources.command_line(),
            dry_run=args.dry_run,
            prune=args.prune,
        )
    for line in report_text.plan_lines(plan, detailed=args.dry_run):
        print(line)
    return 0


async def run_roster_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print the roster as a table or as JSON."""
    station = args.station.upper() if args.station else None
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            if station and not await people.station_exists(session, station):
                raise InputError(f"--station: unknown station {args.station!r}")
            entries = await people.list_people(session, station=station, include_inactive=args.all)
    if args.json:
        print(json.dumps([asdict(entry) for entry in entries], ensure_ascii=False, indent=2))
    else:
        for line in report_text.roster_table(entries):
            print(line)
    return 0


async def run_token_list(args: argparse.Namespace, settings: Settings) -> int:
    """List the API tokens."""
    return await token_commands.list_tokens(args, settings)


async def run_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke an API token by name."""
    return await token_commands.revoke(
        args, settings, actor=_actor(), source=sources.command_line()
    )


async def run_token_create(args: argparse.Namespace, settings: Settings) -> int:
    """Create an API token and print it, once."""
    stations = sorted({code.strip().upper() for code in args.stations.split(",") if code.strip()})
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            token = await tokens.create_token(
                session,
                args.name,
                Role(args.role),
                stations,
                actor=_actor(),
                source=sources.command_line(),
            )
    print(token)
    print("(store it now: it is shown only once)", file=sys.stderr)
    return 0


async def run_alert_send(args: argparse.Namespace, settings: Settings) -> int:
    """Raise an alert; with --wait, follow it until every delivery is settled."""
    return await alert_commands.send(args, settings, _principal())


async def run_alert_status(args: argparse.Namespace, settings: Settings) -> int:
    """Show an alert's progress; with --watch, until it is closed or cancelled."""
    return await alert_commands.status(args, settings, _principal())


async def run_alert_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel an alert."""
    return await alert_commands.cancel(args, settings, _principal())


async def run_alert_list(args: argparse.Namespace, settings: Settings) -> int:
    """List alerts, newest first."""
    return await alert_commands.list_alerts(args, settings, _principal())


async def run_alert_close(args: argparse.Namespace, settings: Settings) -> int:
    """Close an alert."""
    return await alert_commands.close(args, settings, _principal())


async def run_report(args: argparse.Namespace, settings: Settings) -> int:
    """Write an alert's report, or a station's readiness."""
    return await report_commands.report(args, settings, _principal())


def _package_version() -> str:
    """The installed package's version, as its metadata gives it."""
    try:
        return importlib.metadata.version("notifier")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree never installed
        return "unknown (not installed)"


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _principal() -> Principal:
    """The command line acts with every right, as the user running it, from this host."""
    return Principal(_actor(), Role.ADMIN, source=sources.command_line())


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in the environment, no passwd entry for the uid
        return "cli"
