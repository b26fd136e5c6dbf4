"""`notifier drill add | list | run | pause | resume | remove`: manage drill schedules.

Requests go through the API's validation (`parse_drill_request`) and the same store functions,
straight to the database: the daemon's scheduler picks up the change. Bad input names the option.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from notifier.access import Principal
from notifier.drill_json import drill_json, drill_table
from notifier.drill_request import DrillRequest, parse_drill_request
from notifier.errors import FieldError, InputError
from notifier.messages import load_templates, templates_location
from notifier.settings import Settings
from notifier.store import alert_views, drills, schema
from notifier.store.drills import DrillEntry
from notifier.store.engine import Database
from notifier.store.types import utc_now

OPTION_OF_FIELD = {
    "name": "NAME",
    "stations": "--stations",
    "groups": "--groups",
    "channels": "--channels",
    "cron": "--cron",
    "timezone": "--timezone",
    "title": "--title",
    "message": "--message",
}
CRON_HELP = (
    "five crontab fields in the drill's time zone, e.g. '0 10 1-7 * mon' (the first Monday of "
    "each month at 10:00: when day of month and day of week are both given, both must match); "
    "weekdays 0 and 7 are Sunday, 1 Monday"
)
_Command = Callable[[argparse.Namespace, Settings, Principal], Coroutine[Any, Any, int]]


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    principal: Callable[[], Principal],
) -> None:
    """Register `notifier drill …`; each command acts as `principal()`."""
    drill = commands.add_parser(
        "drill", help="scheduled drills: add, list, run, pause, resume, remove"
    ).add_subparsers(title="commands", metavar="COMMAND")
    command = drill.add_parser("add", parents=[common], help="add a drill schedule")
    command.add_argument("name", metavar="NAME")
    command.add_argument("--stations", required=True, metavar="CODE,…")
    command.add_argument("--cron", required=True, metavar="EXPR", help=CRON_HELP)
    command.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA zone; default: the stations' (required if they differ)",
    )
    command.add_argument("--groups", metavar="GROUP,…", help="only these groups of the stations")
    command.add_argument("--channels", metavar="sms,email,voice", help="default: sms,email")
    command.add_argument("--title", metavar="TEXT", help="default: 'Scheduled drill'")
    command.add_argument(
        "--message", metavar="TEXT", help="default: the drill text in each person's language"
    )
    _handle(command, add, principal)
    command = drill.add_parser("list", parents=[common], help="the drills and their next runs")
    command.add_argument("--json", action="store_true", help="print the API's JSON")
    _handle(command, list_drills, principal)
    for name, handler, text in (
        ("run", run, "raise the drill's alert now"),
        ("pause", pause, "stop a drill firing until it is resumed"),
        ("resume", resume, "let a paused drill fire again"),
        ("remove", remove, "remove a drill schedule; its alerts stay"),
    ):
        command = drill.add_parser(name, parents=[common], help=text)
        command.add_argument("name", metavar="NAME")
        _handle(command, handler, principal)


def _handle(
    command: argparse.ArgumentParser, handler: _Command, principal: Callable[[], Principal]
) -> None:
    async def run_command(args: argparse.Namespace, settings: Settings) -> int:
        return await handler(args, settings, principal())

    command.set_defaults(handler=run_command)


async def add(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Add a drill schedule; print its next run."""
    request = _request(args)
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            with _options_named():
                entry = await drills.add_drill(session, request, principal, utc_now())
    print(f"drill {entry.drill.name!r} added: {_next(entry)}")
    return 0


async def list_drills(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Print the drills as a table, or as JSON with `--json`."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            entries = await drills.list_drills(session, principal, utc_now())
    if args.json:
        print(json.dumps([drill_json(entry) for entry in entries], ensure_ascii=False, indent=2))
    else:
        for line in drill_table(entries):
            print(line)
    return 0


async def run(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Raise the drill's alert now; the daemon sends it."""
    templates = load_templates(templates_location(settings.messages.templates_dir))
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            alert = await drills.run_drill(session, args.name, principal, templates)
            assert alert.id is not None
            recipients = await alert_views.audience_size(session, alert.id)
    print(
        f"drill {args.name!r} raised alert {alert.id} (code {alert.code}): {recipients} "
        f"recipients; the daemon (`notifier serve`) sends it"
    )
    return 0


async def pause(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Pause a drill."""
    return await _set_paused(args, settings, principal, paused=True)


async def resume(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Resume a paused drill."""
    return await _set_paused(args, settings, principal, paused=False)


async def remove(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Remove a drill schedule."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            await drills.remove_drill(session, args.name, principal, utc_now())
    print(f"drill {args.name!r} removed")
    return 0


async def _set_paused(
    args: argparse.Namespace, settings: Settings, principal: Principal, *, paused: bool
) -> int:
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            entry = await drills.set_paused(
                session, args.name, principal, paused=paused, now=utc_now()
            )
    print(f"drill {args.name!r} {'paused' if paused else 'resumed'}: {_next(entry)}")
    return 0


def _request(args: argparse.Namespace) -> DrillRequest:
    payload: dict[str, object] = {"name": args.name, "stations": args.stations, "cron": args.cron}
    for field in ("timezone", "groups", "channels", "title", "message"):
        value = getattr(args, field)
        if value is not None:
            payload[field] = value
    with _options_named():
        return parse_drill_request(payload)


def _next(entry: DrillEntry) -> str:
    if entry.next_run is None:
        return "paused, no next run" if entry.drill.paused else "it never fires again"
    local, utc = entry.next_run.local, entry.next_run.utc
    return f"next run {local:%Y-%m-%d %H:%M} {entry.drill.timezone} ({utc:%Y-%m-%d %H:%M} UTC)"


@contextmanager
def _options_named() -> Iterator[None]:
    """Report a request's bad field by the option that gave it: `--cron: expected 5 fields`."""
    try:
        yield
    except FieldError as error:
        option = OPTION_OF_FIELD.get(error.field, error.field)
        raise InputError(f"{option}: {error.reason}") from None
