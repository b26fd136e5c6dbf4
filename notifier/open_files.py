"""The process's open-file limit: raised as far as the system allows, and shared out.

Every connection, database handle and pipe is a file descriptor. Many systems start a process
with a soft limit of 1,024 and a much higher hard one; a server may raise its own soft limit up
to the hard one (Go programs do so at start), and the notifier does.
"""

from __future__ import annotations

import resource

from notifier.errors import ConfigError

MIN_HTTP_CONNECTIONS = 8


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard one where allowed; the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # an unlimited hard limit (macOS), or a sandbox that refuses
        return soft
    return hard


def http_connection_budget(wanted: int, open_files: int, reserved: int) -> int:
    """How many HTTP connections fit in `open_files` beside `reserved` others: `wanted` at most.

    Raises ConfigError when not even MIN_HTTP_CONNECTIONS fit.
    """
    room = open_files - reserved
    if room < MIN_HTTP_CONNECTIONS:
        raise ConfigError(
            f"configuration error: http.max_connections: the process may open only {open_files}"
            f" files (ulimit -n), and the database, e-mail, SMS and inbound e-mail need about"
            f" {reserved}; raise the limit to at least {reserved + wanted}"
        )
    return min(wanted, room)
