"""Where an audited action comes from: the command line, the daemon, or an API client."""

from __future__ import annotations

import getpass
import socket

MAX_LENGTH = 200
"""The longest source the audit log keeps (`audit_log.source` is VARCHAR(200))."""
UNKNOWN = "unknown"


def command_line() -> str:
    """The command line run by a user on a host: `cli alice@ops-01`."""
    return _bounded(f"cli {_user()}@{_host()}")


def daemon() -> str:
    """The daemon's own actions (drill firings, automatic closing): `daemon ops-01`."""
    return _bounded(f"daemon {_host()}")


def api_client(address: str | None) -> str:
    """A request to the API from a client address: `api 203.0.113.7`."""
    return _bounded(f"api {address or UNKNOWN}")


def _user() -> str:
    try:
        return getpass.getuser() or UNKNOWN
    except (OSError, KeyError, ImportError):  # no login name, no passwd entry, no `pwd` module
        return UNKNOWN


def _host() -> str:
    try:
        return socket.gethostname() or UNKNOWN
    except OSError:
        return UNKNOWN


def _bounded(text: str) -> str:
    """One printable line that fits the column: names from the environment are not trusted."""
    printable = "".join(char if char.isprintable() else "?" for char in text)
    return printable[:MAX_LENGTH]
