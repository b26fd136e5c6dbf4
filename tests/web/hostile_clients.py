"""The app with a token per kind of caller, and request bodies that count what the server took."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from notifier.domain import Role
from notifier.settings import load_settings
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.store.tables import PERSON
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import nairobi_people, seed
from tests.web.wake import WakeCounter

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
ALERTS = "/api/v1/alerts"
AUTH_TOKEN = "twilio-auth-token-for-hostile-requests"
PUBLIC_URL = "https://ens.example.org"
SECRET_KEY = "hostile-requests-secret-key-0123456789"
ROSTER = [
    *nairobi_people(3, groups="wardens"),
    "G00001,Hélène Dubois,helene@example.org,+41791234567,GVA,fr,crisis-cell",
]
EARTHQUAKE = {"title": "Earthquake", "message": "Leave the building.", "stations": ["NBO"]}


@dataclass(frozen=True, slots=True)
class Callers:
    """A client of the app, its database, and the tokens of an admin, two officers, viewers."""

    client: httpx.AsyncClient
    database: Database
    wakes: WakeCounter
    admin: str
    nbo_officer: str
    gva_officer: str
    viewer: str
    nbo_viewer: str

    async def raise_alert(self, **changes: object) -> int:
        """Raise the earthquake alert (with `changes`) as admin; its id."""
        response = await self.client.post(
            ALERTS, json=EARTHQUAKE | changes, headers=bearer(self.admin)
        )
        assert response.status_code == 202, response.text
        alert_id: int = response.json()["id"]
        return alert_id


@dataclass
class Offered:
    """A request body of `count` chunks, yielded only as the receiving side asks for them."""

    chunk: bytes
    count: int
    head: bytes = b""
    taken: int = field(default=0, init=False)

    async def stream(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk, counting each one taken."""
        if self.head:
            yield self.head
        for _ in range(self.count):
            self.taken += 1
            yield self.chunk

    @property
    def size(self) -> int:
        """The whole body's length, had it all been sent."""
        return len(self.head) + len(self.chunk) * self.count


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an API error body."""
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["message"]
    return error


@asynccontextmanager
async def callers(
    database: Database, environ: Mapping[str, str] | None = None
) -> AsyncIterator[Callers]:
    """The app over a seeded database (N00002 deactivated), configured by `environ`."""
    await seed(database, ROSTER)
    async with database.session() as session:
        await session.execute(
            update(PERSON).where(PERSON.c.person_id == "N00002").values(active=False)
        )
        issued = [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "nbo", Role.OFFICER, ["NBO"], actor="test"),
            await tokens.create_token(session, "gva", Role.OFFICER, ["GVA"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
            await tokens.create_token(session, "nbo-viewer", Role.VIEWER, ["NBO"], actor="test"),
        ]
    settings = load_settings(
        None,
        {
            "NOTIFIER_SMS__AUTH_TOKEN": AUTH_TOKEN,
            "NOTIFIER_HTTP__PUBLIC_URL": PUBLIC_URL,
            "NOTIFIER_SECURITY__SECRET_KEY": SECRET_KEY,
            **(environ or {}),
        },
    )
    wakes = WakeCounter()
    app = create_app(database, settings, clock=HandClock(NOW), wake_dispatcher=wakes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Callers(client, database, wakes, *issued)
