"""The notifier's exceptions.

    NotifierError
    ├── ConfigError         a setting is unknown, of the wrong type or missing; the program stops
    ├── InputError          a file or argument from a user is invalid; nothing was written
    │   └── RosterError     a station or roster file has bad rows, each one listed
    ├── SchemaError         the database's schema is not the one this version needs
    └── NotFoundError       a named station, person, token or alert does not exist

Sending errors (transient vs permanent) join this tree with the channels.
"""

from __future__ import annotations

from dataclasses import dataclass


class NotifierError(Exception):
    """Base of every error the notifier raises on purpose."""


class ConfigError(NotifierError):
    """A configuration key is unknown, has the wrong type or is missing."""


class InputError(NotifierError):
    """Input from a user is invalid; nothing was written."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad value in a data file, reported as `FILE:LINE: column: reason`."""

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.reason}"


class RosterError(InputError):
    """A station or roster file has invalid rows; the file was rejected whole."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class SchemaError(NotifierError):
    """The database schema is missing or older than this version needs."""


class NotFoundError(NotifierError):
    """A named thing does not exist."""
