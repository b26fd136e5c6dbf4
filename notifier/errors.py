"""The notifier's exceptions.

    NotifierError
    ├── ConfigError         a setting is unknown, of the wrong type or missing; the program stops
    ├── InputError          a file or argument from a user is invalid; nothing was written
    │   ├── FieldError      one named field of a request is invalid
    │   └── RosterError     a station or roster file has bad rows, each one listed
    ├── ForbiddenError      the caller's role or stations do not allow the action
    ├── ConflictError       the thing is not in a state that allows the action (409)
    ├── SchemaError         the database's schema is not the one this version needs
    ├── NotFoundError       a named station, person, token or alert does not exist
    └── SendError           a channel could not hand a message to its provider
        ├── TransientSendError   worth trying again later: SMTP 4xx, Twilio 429 and 5xx,
        │                        timeouts, dropped connections
        └── PermanentSendError   this recipient cannot be reached on this channel: SMTP 5xx
                                 for the recipient, Twilio 21211 (invalid number), 21610
                                 (opted out); the person's other channel must carry the alert

The split between transient and permanent decides the retry, in `notifier.retry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.translatable import Translatable


class NotifierError(Exception):
    """Base of every error the notifier raises on purpose."""


class ConfigError(NotifierError):
    """A configuration key is unknown, has the wrong type or is missing."""


class InputError(NotifierError):
    """Input from a user is invalid; nothing was written."""


class FieldError(InputError):
    """One field of a request is invalid; `field` names it for the API's error body.

    `reason` is the English the API and the command line give; `wording`, when the reason
    was given as a `Translatable`, is what the console shows in its reader's language.
    """

    def __init__(self, field: str, message: str | Translatable) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = str(message)
        self.wording = message if isinstance(message, Translatable) else None


class ForbiddenError(NotifierError):
    """The caller may not do this, or not for these stations."""


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


class ConflictError(NotifierError):
    """The named thing exists, but its state does not allow this (a draft already sent)."""


class SchemaError(NotifierError):
    """The database schema is missing or older than this version needs."""


class NotFoundError(NotifierError):
    """A named thing does not exist."""


class SendError(NotifierError):
    """A message was not accepted by the provider; `code` is the provider's own, if any."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientSendError(SendError):
    """The provider may accept the message later; `retry_after` is its hint in seconds."""

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """The provider will never accept this message for this recipient."""
