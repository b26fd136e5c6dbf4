"""`notifier alert cap | from-cap | feeds`: an alert as a CAP 1.2 document, a CAP document as a
draft, and what the CAP feeds polled brought.

Both go straight to the database through the same functions as the API
(`notifier.cap_documents`), so `alert cap` prints byte for byte what GET
/api/v1/alerts/{id}/cap answers. A draft is sent with `notifier alert send --from-draft ID`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from notifier.access import Principal
from notifier.alert_json import alert_header
from notifier.cap.xml_safety import MAX_DOCUMENT_BYTES, CapError
from notifier.cap_documents import alert_document, import_document
from notifier.cap_feed_report import feed_report, feed_text
from notifier.domain import AlertStatus
from notifier.errors import FieldError, InputError
from notifier.settings import Settings
from notifier.store import schema
from notifier.store.engine import Database

_Command = Callable[[argparse.Namespace, Settings, Principal], Coroutine[Any, Any, int]]


def add_commands(
    alert: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    principal: Callable[[], Principal],
) -> None:
    """Register `notifier alert cap` and `notifier alert from-cap`; each acts as `principal()`."""
    command = alert.add_parser(
        "cap", parents=[common], help="print an alert as a CAP 1.2 document (XML)"
    )
    command.add_argument("alert_id", type=int, metavar="ALERT_ID")
    _handle(command, print_cap, principal)
    command = alert.add_parser(
        "from-cap",
        parents=[common],
        help="make a draft alert of a CAP 1.2 document for the stations in its areas",
    )
    command.add_argument("file", type=Path, metavar="FILE", help="the CAP document; - for stdin")
    command.add_argument("--json", action="store_true", help="print the API's JSON")
    _handle(command, from_cap, principal)
    command = alert.add_parser(
        "feeds",
        parents=[common],
        help="show each CAP feed of cap.feeds: its last poll, and its entries dealt with last",
    )
    command.add_argument(
        "--entries", type=int, default=10, metavar="N", help="entries shown per feed (10)"
    )
    command.add_argument("--json", action="store_true", help="print JSON")
    _handle(command, show_feeds, principal)


async def print_cap(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Write the alert's CAP document to standard output, as the API serves it."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        document = await alert_document(database, args.alert_id, principal, settings)
    sys.stdout.flush()
    sys.stdout.buffer.write(document)
    return 0


async def from_cap(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Import a CAP document as a draft; print the draft, or the one an earlier import made."""
    data = _read(args.file)
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        try:
            imported = await import_document(database, data, principal, settings)
        except CapError as error:
            raise InputError(f"{args.file}: {error}") from None
        except FieldError as error:  # the API's field is its body: here, the file
            raise InputError(f"{args.file}: {error.reason}") from None
    alert = imported.alert
    if alert is None:
        print(f"ignored by rule {imported.rule} of cap.rules: nothing was written")
        return 0
    if args.json:
        body = alert_header(alert) | {"created": imported.created, "rule": imported.rule}
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    stations = ", ".join(alert.audience.get("scope", []))
    if not imported.created:
        what = f"already imported: alert {alert.id} ({alert.status})"
    elif imported.rule is not None:
        what = f"alert {alert.id} raised at once by rule {imported.rule} of cap.rules"
    else:
        what = f"draft alert {alert.id} ({alert.kind}, {alert.severity})"
    print(f"{what} for {stations}: {alert.title}")
    if alert.status == AlertStatus.DRAFT.value:
        print(
            f"review it with `notifier alert status {alert.id}`; send it with "
            f"`notifier alert send --from-draft {alert.id}`",
            file=sys.stderr,
        )
    return 0


async def show_feeds(args: argparse.Namespace, settings: Settings, principal: Principal) -> int:
    """Print each configured feed's last poll and the entries it brought last; 1 if any
    feed's last poll failed, so that a monitoring script can tell."""
    if args.entries < 0:
        raise InputError(f"--entries must be 0 or more, not {args.entries}")
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            reports = [
                await feed_report(session, feed, args.entries) for feed in settings.cap.feeds
            ]
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=2))
    elif not reports:
        print("no CAP feed: cap.feeds is empty")
    for report in [] if args.json else reports:
        print(feed_text(report))
    return 1 if any(report["error"] for report in reports) else 0


def _read(path: Path) -> bytes:
    """The document, read up to one byte past the limit, so that a huge file is not held."""
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            with path.open("rb") as file:
                data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise InputError(f"{path}: {error.strerror or error}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InputError(
            f"{path}: larger than the {MAX_DOCUMENT_BYTES} bytes a CAP document may be"
        )
    return data


def _handle(
    command: argparse.ArgumentParser, handler: _Command, principal: Callable[[], Principal]
) -> None:
    async def run(args: argparse.Namespace, settings: Settings) -> int:
        return await handler(args, settings, principal())

    command.set_defaults(handler=run)
