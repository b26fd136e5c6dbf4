"""`notifier audit export`: the audit log as CSV, oldest first, to standard output or a file.

The log is read in batches (`store.audit.stream_entries`) and written as it is read, so a long
log is never held whole. `--out FILE` is written to a temporary file beside it, renamed over
FILE once complete: a failure part way leaves FILE as it was. The file is readable by its owner
only, as it says who did what.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from notifier.audit_rows import csv_header, csv_rows, parse_since
from notifier.errors import FieldError
from notifier.settings import Settings
from notifier.store import audit, schema
from notifier.store.engine import Database


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Register `notifier audit export`."""
    group = commands.add_parser("audit", help="the audit log: who did what, when, from where")
    command = group.add_subparsers(title="commands", metavar="COMMAND").add_parser(
        "export",
        parents=[common],
        help="write the audit log as CSV, oldest first",
        description="Write the audit log as CSV (at, actor, source, action, target, details), "
        "oldest first, to standard output or to --out.",
    )
    command.add_argument(
        "--since", type=_since, metavar="YYYY-MM-DD", help="entries from this day on (UTC)"
    )
    command.add_argument(
        "--out", type=Path, metavar="FILE", help="write here (default: standard output)"
    )
    command.set_defaults(handler=export)


async def export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the log from `--since` on as CSV to `--out`, or to standard output."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        if args.out is None:
            await write_csv(database, sys.stdout.buffer, args.since)
            sys.stdout.buffer.flush()
            return 0
        count = await export_to_file(database, args.out, args.since)
    print(f"audit log: {count} entries written to {args.out}", file=sys.stderr)
    return 0


async def export_to_file(database: Database, out: Path, since: datetime | None) -> int:
    """Write the CSV to a temporary file beside `out`, then rename it to `out`; the entries."""
    with _replacing(out) as handle:
        return await write_csv(database, handle, since)


async def write_csv(database: Database, handle: BinaryIO, since: datetime | None) -> int:
    """Write the header, then the log from `since` on, a batch at a time; the entries written."""
    handle.write(csv_header().encode())
    count = 0
    async for batch in audit.stream_entries(database, since=since):
        handle.write(csv_rows(batch).encode())
        count += len(batch)
    return count


@contextmanager
def _replacing(out: Path) -> Iterator[BinaryIO]:
    """A new file beside `out`, renamed to `out` when the block succeeds, removed if not."""
    descriptor, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _since(text: str) -> datetime:
    """argparse's type for --since: a bad date is a usage error naming the option."""
    try:
        return parse_since(text, "--since")
    except FieldError as error:
        raise argparse.ArgumentTypeError(error.reason) from None
