"""Who may do what: API token roles and station scopes, and the tokens themselves (pure)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from notifier.domain import Role

TOKEN_PREFIX = "ntf_"


class Action(StrEnum):
    """What a caller asks to do."""

    READ = "read"  # see alerts, recipients, reports
    SEND = "send"  # raise and cancel alerts
    ADMINISTER = "administer"  # rosters, tokens, drill schedules, the audit log


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a token: its name, role and, for officers and scoped viewers, its stations.

    `source` is where it acts from, as the audit log records it (`notifier.sources`): the API
    client's address, the command line's user and host, the daemon's host.
    """

    name: str
    role: Role
    stations: frozenset[str] = frozenset()
    source: str = ""

    def allows(self, action: Action, stations: Collection[str] = ()) -> bool:
        """Whether this principal may do `action` on all of `stations`."""
        if self.role is Role.ADMIN:
            return True
        if action is Action.ADMINISTER:
            return False
        if action is Action.SEND and self.role is not Role.OFFICER:
            return False
        if not self.stations:  # a viewer without stations sees the whole organisation
            return self.role is Role.VIEWER
        return set(stations) <= self.stations

    def may(self, action: Action) -> bool:
        """Whether the role allows `action` at all, on some stations: checked before any lookup."""
        return self.allows(action, ())

    def scope_of(self, action: Action) -> frozenset[str] | None:
        """The stations `action` is allowed on: None for every station, empty for none."""
        if self.role is Role.ADMIN:
            return None
        if not self.may(action):
            return frozenset()
        return self.stations or None  # no stations here: a viewer of the whole organisation


def new_token() -> str:
    """A fresh bearer token: 256 random bits, prefixed so that leaked tokens are easy to spot."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The SHA-256 digest under which a token is stored; the token itself never is."""
    return hashlib.sha256(token.encode()).hexdigest()
