"""`notifier alert send | status | cancel | close`: raise (or send a draft), follow, stop, close.

`send --preview` shows what raising would send (`notifier.alert_preview`) and writes nothing.

Requests go through the API's validation (`parse_alert_request`) and are written straight to the
database, so `send` works whether or not the daemon runs: the daemon dispatches what is written.
The JSON printed is the API's. Following an alert reads its counts from the database about twice
a second and shows, per channel, the time left at the configured send rate and as observed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from notifier.access import Principal
from notifier.alert_json import accepted_body, alert_detail, alert_row
from notifier.alert_preview import preview_alert, preview_json, preview_lines
from notifier.alert_request import AlertRequest, parse_alert_request
from notifier.alert_watch import STATES, Snapshot, rates_of, read_snapshot, status_lines, watch
from notifier.domain import ResponseKind
from notifier.errors import FieldError, InputError
from notifier.messages import load_templates, templates_location
from notifier.report_text import alert_table, fallback_text
from notifier.settings import Settings
from notifier.store import alert_views, alerts, drafts, schema
from notifier.store.engine import Database
from notifier.store.types import utc_now

OPTION_OF_FIELD = {
    "title": "--title",
    "message": "--message",
    "severity": "--severity",
    "kind": "--kind",
    "stations": "--stations",
    "groups": "--groups",
    "people": "--people",
    "channels": "--channels",
    "status": "--status",
}


DRAFT_EXCLUDES = (
    "stations",
    "groups",
    "people",
    "title",
    "message",
    "severity",
    "channels",
    "kind",
)
"""What `send --from-draft` takes from the draft, so cannot be given beside it."""


def check_send_usage(command: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--title and --message, or --from-draft without what the draft already says (exit 2)."""
    if args.from_draft is None:
        missing = [f"--{name}" for name in ("title", "message") if getattr(args, name) is None]
        if missing:
            command.error(f"the following arguments are required: {', '.join(missing)}")
        return
    given = [f"--{name}" for name in DRAFT_EXCLUDES if getattr(args, name) is not None]
    if args.preview:
        given.append("--preview")
    if given:
        command.error(f"--from-draft sends the draft as it stands: not with {', '.join(given)}")


async def send(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Raise an alert (or send a draft); print its id, code and audience (or the API's 202 body);
    maybe follow it."""
    draft: int | None = getattr(args, "from_draft", None)
    request = None if draft is not None else _request(args)
    if request is not None and getattr(args, "preview", False):
        return await _preview(request, args, settings, principal)
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            if draft is not None:
                alert = await drafts.send_draft(session, draft, principal, utc_now())
            else:
                assert request is not None
                with _options_named():
                    alert = await alerts.create_alert(session, request, principal)
            assert alert.id is not None
            recipients = await alert_views.audience_size(session, alert.id)
            fallback = await alert_views.fallback_counts(session, alert)
        if args.json:
            body = accepted_body(alert, recipients, fallback)
            print(json.dumps(body, ensure_ascii=False, indent=2), flush=True)
        else:
            print(
                f"alert {alert.id} raised (code {alert.code}, {alert.kind}, {alert.severity}): "
                f"{recipients} recipients{fallback_text(fallback, alert.channels)}",
                flush=True,
            )
        if recipients == 0:
            print(
                f"warning: no active person matches; alert {alert.id} reaches no one",
                file=sys.stderr,
            )
        if not args.wait:
            if not args.json:
                print(
                    f"the daemon (`notifier serve`) sends it; "
                    f"follow it with `notifier alert status {alert.id} --watch`",
                    file=sys.stderr,
                )
            return 0
        final = await watch(database, alert.id, principal, settings, Console(stderr=args.json))
    if not args.json and not final.dispatching:
        _print_lines(status_lines(final, rates_of(settings)))
    return 0


async def _preview(
    request: AlertRequest, args: argparse.Namespace, settings: Settings, principal: Principal
) -> int:
    """Print what raising the alert would send, to whom, at what cost; write nothing."""
    templates = load_templates(templates_location(settings.messages.templates_dir))
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            with _options_named():
                found = await preview_alert(session, request, principal, settings, templates)
    if args.json:
        print(json.dumps(preview_json(found), ensure_ascii=False, indent=2))
    else:
        rates = (settings.sms.rate_per_second, settings.email.rate_per_second)
        _print_lines(preview_lines(found, *rates))
    return 0


async def status(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Print the alert's header and counts, or the API's JSON; with --watch, once it is closed
    or cancelled, following its sending and its answers until then."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        snapshot = await read_snapshot(database, args.alert_id, principal)
        if args.watch and snapshot.open:
            console = Console(stderr=args.json)
            snapshot = await watch(
                database, args.alert_id, principal, settings, console, answers=True
            )
            if snapshot.open:  # interrupted: the officer stopped watching
                return 0
        async with database.session() as session:
            needing_help = await alert_views.recipients(
                session, args.alert_id, response=ResponseKind.HELP, limit=LISTED
            )
            other = await alert_views.recipients(
                session, args.alert_id, response=ResponseKind.OTHER, limit=LISTED
            )
    if args.json:
        print(json.dumps(status_body(snapshot), ensure_ascii=False, indent=2))
    else:
        responses = snapshot.counts.responses
        _print_lines(status_lines(snapshot, rates_of(settings)))
        _print_lines(help_lines(needing_help, responses.get("help", 0)))
        _print_lines(other_lines(other, responses.get("other", 0)))
    return 0


def help_lines(listed: list[alert_views.RecipientRow], total: int) -> Iterator[str]:
    """Who needs help, with a number to call and what they wrote: what an officer acts on
    first."""
    return _people_lines("need help", ResponseKind.HELP, listed, total)


def other_lines(listed: list[alert_views.RecipientRow], total: int) -> Iterator[str]:
    """Who answered with words that read as neither safe nor help, with the words, for an
    officer to read."""
    return _people_lines("other answers", ResponseKind.OTHER, listed, total)


def _people_lines(
    heading: str, response: ResponseKind, listed: list[alert_views.RecipientRow], total: int
) -> Iterator[str]:
    if not listed:
        return
    yield ""
    yield f"{heading} ({total}):"
    for row in listed:
        line = f"  {row.name} ({row.person_id}, {row.station}) {row.phone or 'no phone'}"
        if row.latest_text:
            line += f' "{_shown(row.latest_text)}"'
        yield line
    if total > len(listed):
        yield (
            f"  … and {total - len(listed)} more "
            f"(the API lists all: /recipients?response={response.value})"
        )


def _shown(text: str) -> str:
    """A person's text on one line of a terminal: no control characters, cut if long."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= TEXT_SHOWN else line[: TEXT_SHOWN - 1].rstrip() + "…"


async def cancel(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Cancel the alert: queued messages are not sent; print its new status."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            before = (await alerts.get_alert(session, args.alert_id, principal)).status
            alert = await alerts.cancel_alert(session, args.alert_id, principal)
            counts = await alert_views.alert_counts(session, alert)
    name = f"alert {alert.id} ({alert.code})"
    if alert.status == before:
        print(f"{name}: already {alert.status}; nothing changed")
        return 0
    states = {state: sum(c[state] for c in counts.channels.values()) for state in STATES}
    if not any(states.values()):
        print(f"{name}: {alert.status} (was {before}) before any message was prepared")
        return 0
    line = (
        f"{name}: {alert.status} (was {before}); {states['cancelled']} queued messages "
        f"will not be sent, {states['sent'] + states['delivered']} were already sent"
    )
    if states["sending"]:
        line += f", {states['sending']} being handed to a provider may still arrive"
    print(line)
    return 0


async def close(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Close the alert: answers are no longer taken, nothing more is sent; print its new status."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            before = await alerts.get_alert(session, args.alert_id, principal)
            queued = sum(
                states.get("queued", 0)
                for states in (await alert_views.alert_counts(session, before)).channels.values()
            )
            was = before.status
            alert = await alerts.close_alert(session, args.alert_id, principal)
            counts = await alert_views.alert_counts(session, alert)
    name = f"alert {alert.id} ({alert.code})"
    if alert.status == was:
        print(f"{name}: already {alert.status}; nothing changed")
        return 0
    responses = counts.responses
    line = (
        f"{name}: {alert.status} (was {was}); answers are no longer taken; "
        f"safe {responses.get('safe', 0)}, help {responses.get('help', 0)}, "
        f"other {responses.get('other', 0)}, not answered {counts.not_answered}"
    )
    if queued:
        line += f"; {queued} queued messages will not be sent"
    print(line)
    if responses.get("help", 0):
        print(f"people who needed help are listed by `notifier alert status {alert.id}`")
    return 0


async def list_alerts(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Print the newest alerts first, as a table or as the API's JSON list."""
    if not 1 <= args.limit <= LIST_LIMIT:
        raise InputError(f"--limit: expected a whole number from 1 to {LIST_LIMIT}")
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            with _options_named():
                found = await alerts.list_alerts(
                    session, principal, status=args.status, limit=args.limit
                )
    if args.json:
        print(json.dumps([alert_row(alert) for alert in found], ensure_ascii=False, indent=2))
    else:
        _print_lines(alert_table(found))
    return 0


LIST_LIMIT = 1000
"""The most alerts `alert list` prints, as one page of the API holds."""
LISTED = 50
"""`alert status` names this many people needing help (and who answered otherwise); the API
lists them all."""
TEXT_SHOWN = 200
"""How much of what a person wrote `alert status` shows; the API gives all of it."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def status_body(snapshot: Snapshot) -> dict[str, Any]:
    """The object GET /api/v1/alerts/{id} returns, key for key."""
    return alert_detail(snapshot.alert, snapshot.counts, snapshot.expected)


def _request(args: argparse.Namespace) -> AlertRequest:
    """The request the options describe, validated by the API's rules."""
    payload: dict[str, object] = {"title": args.title, "message": args.message}
    for field in ("stations", "groups", "people", "channels", "severity", "kind"):
        value = getattr(args, field)
        if value is not None:
            payload[field] = value
    with _options_named():
        return parse_alert_request(payload)


@contextmanager
def _options_named() -> Iterator[None]:
    """Report a request's bad field by the option that gave it: `--title: required text`."""
    try:
        yield
    except FieldError as error:
        option = OPTION_OF_FIELD.get(error.field, error.field)
        raise InputError(f"{option}: {error.reason}") from None


def _print_lines(lines: Iterator[str]) -> None:
    for line in lines:
        print(line)
