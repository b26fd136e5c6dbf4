"""API token roles: admin does everything, officers act on their stations, viewers only read."""

from __future__ import annotations

import pytest

from notifier.access import Action, Principal, token_digest
from notifier.domain import Role

ADMIN = Principal("root", Role.ADMIN)
OFFICER = Principal("nairobi-security", Role.OFFICER, frozenset({"NBO", "ADD"}))
VIEWER = Principal("dashboard", Role.VIEWER)
SCOPED_VIEWER = Principal("geneva-board", Role.VIEWER, frozenset({"GVA"}))


@pytest.mark.parametrize(
    ("principal", "action", "stations", "allowed"),
    [
        (ADMIN, Action.ADMINISTER, (), True),
        (ADMIN, Action.SEND, ("NBO", "GVA"), True),
        (OFFICER, Action.SEND, ("NBO",), True),
        (OFFICER, Action.SEND, ("NBO", "ADD"), True),
        (OFFICER, Action.SEND, ("NBO", "GVA"), False),
        (OFFICER, Action.READ, ("ADD",), True),
        (OFFICER, Action.READ, ("GVA",), False),
        (OFFICER, Action.ADMINISTER, (), False),
        (VIEWER, Action.READ, ("GVA", "NBO"), True),
        (VIEWER, Action.SEND, ("GVA",), False),
        (VIEWER, Action.ADMINISTER, (), False),
        (SCOPED_VIEWER, Action.READ, ("GVA",), True),
        (SCOPED_VIEWER, Action.READ, ("NBO",), False),
        (Principal("empty-officer", Role.OFFICER), Action.SEND, ("NBO",), False),
    ],
)
def test_role_and_station_scope(
    principal: Principal, action: Action, stations: tuple[str, ...], allowed: bool
) -> None:
    """Each role may do exactly its actions, on its stations only."""
    assert principal.allows(action, stations) is allowed


def test_digest_is_stable_and_hides_the_token() -> None:
    """The stored digest is the same for the same token and does not contain it."""
    token = "ntf_example-token"
    assert token_digest(token) == token_digest(token)
    assert token not in token_digest(token)
    assert token_digest(token) != token_digest(token + "x")
