"""`notifier token list` and `notifier token revoke`: see the API tokens, and withdraw one."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from notifier.settings import Settings
from notifier.store import schema, tokens
from notifier.store.engine import Database
from notifier.store.tokens import TokenEntry
from notifier.store.types import utc_now


async def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    """Print every token (never the token itself) as a table, or as JSON with `--json`."""
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session(read_only=True) as session:
            entries = await tokens.list_tokens(session)
    if args.json:
        print(json.dumps([token_json(entry) for entry in entries], ensure_ascii=False, indent=2))
    else:
        for line in token_table(entries):
            print(line)
    return 0


async def revoke(
    args: argparse.Namespace, settings: Settings, *, actor: str, source: str = ""
) -> int:
    """Revoke a token by name: from the commit on, every replica answers it 401.

    Audited as revoked by `actor` from `source` (`notifier.sources`).
    """
    async with Database.open(settings.database.url) as database:
        await schema.require_current(database)
        async with database.session() as session:
            already = await tokens.revoke_token(
                session, args.name, utc_now(), actor=actor, source=source
            )
    if already is not None:
        print(f"token {args.name!r} is already revoked (since {_moment(already)})")
    else:
        print(f"token {args.name!r} revoked: the API refuses it from now on")
    return 0


def token_json(entry: TokenEntry) -> dict[str, object]:
    """One token as `token list --json` gives it: times in ISO 8601 with their offset."""
    return {
        "name": entry.name,
        "role": entry.role,
        "stations": entry.stations,
        "created_at": entry.created_at.isoformat(),
        "last_used_at": _iso(entry.last_used_at),
        "revoked_at": _iso(entry.revoked_at),
    }


def token_table(entries: Sequence[TokenEntry]) -> Iterator[str]:
    """The tokens as aligned columns, one a line, with a count at the end."""
    header = ("name", "role", "stations", "created", "last used", "revoked")
    rows = [
        (
            entry.name,
            entry.role,
            ",".join(entry.stations) or "all",
            _moment(entry.created_at),
            _moment(entry.last_used_at) if entry.last_used_at else "never",
            _moment(entry.revoked_at) if entry.revoked_at else "",
        )
        for entry in entries
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
    revoked = sum(1 for entry in entries if entry.revoked_at is not None)
    yield f"{len(rows)} token{'' if len(rows) == 1 else 's'}, {revoked} revoked"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
