"""The demo's secrets, kept across restarts in a file only its owner can read (mode 0600).

The file sits next to the demo's SQLite database (`notifier.db` → `notifier.db.demo.json`),
or in the working directory when the database is not a SQLite file. It holds the secret key
(so acknowledgement links already sent stay valid), the SMS auth token that `demo reply`
signs with, and the admin API token printed at the first start: the database keeps only the
token's digest, so the token itself must be kept here to be printed again.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from notifier.errors import InputError

STATE_SUFFIX = ".demo.json"


@dataclass(frozen=True, slots=True)
class DemoState:
    """The demo's secrets; `admin_token` is empty until the first admin token is made."""

    secret_key: str
    sms_auth_token: str
    admin_token_name: str = ""
    admin_token: str = ""


def state_path(database_url: str) -> Path:
    """Where the demo using `database_url` keeps its state."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        database = Path(url.database)
        return database.with_name(database.name + STATE_SUFFIX)
    return Path("notifier" + STATE_SUFFIX)


def new_state() -> DemoState:
    """Fresh random secrets, no admin token yet."""
    return DemoState(secrets.token_urlsafe(32), secrets.token_urlsafe(24))


def with_admin_token(state: DemoState, name: str, token: str) -> DemoState:
    """The state holding a newly made admin token."""
    return replace(state, admin_token_name=name, admin_token=token)


def load(path: Path) -> DemoState | None:
    """The state kept at `path`, or None if there is none; InputError if it is not sound."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"{path}: holds the demo's secrets but others may read it; run `chmod 600 {path}`"
        )
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
        state = DemoState(**fields)
    except (ValueError, TypeError) as error:
        raise InputError(
            f"{path}: not a demo state file ({error}); remove it to start over"
        ) from None
    if not all(isinstance(value, str) for value in asdict(state).values()):
        raise InputError(f"{path}: not a demo state file (a value is not text); remove it")
    return state


def save(path: Path, state: DemoState) -> None:
    """Write the state, readable by its owner only, replacing any earlier one whole."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # in case the temporary file was left by a crash
        json.dump(asdict(state), file, indent=2)
        file.write("\n")
    temporary.replace(path)
