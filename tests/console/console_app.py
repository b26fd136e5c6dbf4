"""A console under test: the real app on a seeded database, its tokens, and a hand clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from notifier.domain import Role
from notifier.settings import HttpSettings, SecuritySettings, Settings
from notifier.store import tokens
from notifier.store.engine import Database
from notifier.web.app import create_app
from tests.clock import HandClock
from tests.seeding import nairobi_people, seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECRET = "k7Qw2Zp9Lm4Xr8Tv1Ny6Hb3Jc5Fd0Gs"
ROSTER = [
    *nairobi_people(3),
    "G00001,Hélène Dubois,helene@example.org,+41791234567,GVA,fr,wardens",
]
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass(frozen=True, slots=True)
class Console:
    """A client of the app (no redirects followed), its clock, database and tokens."""

    client: httpx.AsyncClient
    clock: HandClock
    database: Database
    admin: str
    nbo_officer: str
    gva_officer: str
    viewer: str

    async def sign_in(self, token: str) -> str:
        """Sign in with `token`; the session cookie's value."""
        response = await self.client.post("/login", data={"token": token})
        assert response.status_code == 303, response.text
        value = response.cookies.get("notifier_session")
        assert value
        self.client.cookies.clear()  # each request below names its session itself
        return value

    async def get(self, path: str, session: str | None, **headers: str) -> httpx.Response:
        """GET `path` with the session cookie (if any)."""
        cookies = {"notifier_session": session} if session else {}
        self.client.cookies.clear()
        return await self.client.get(path, headers=headers | _cookie_header(cookies))

    async def post(self, path: str, session: str | None, data: dict[str, str]) -> httpx.Response:
        """POST a form to `path` with the session cookie (if any)."""
        cookies = {"notifier_session": session} if session else {}
        self.client.cookies.clear()
        return await self.client.post(path, data=data, headers=_cookie_header(cookies))

    async def raise_alert(self, title: str, station: str) -> int:
        """Raise an alert for `station` through the API as admin; its id."""
        response = await self.client.post(
            "/api/v1/alerts",
            json={"title": title, "message": "Leave the building.", "stations": [station]},
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        assert response.status_code == 202, response.text
        alert_id: int = response.json()["id"]
        return alert_id


def csrf_of(page: str) -> str:
    """The CSRF value in a page's forms."""
    found = _CSRF.search(page)
    assert found is not None, "no csrf field on the page"
    return found.group(1)


def _cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}


async def seeded_with_tokens(database: Database, roster: list[str]) -> list[str]:
    """Seed `roster`, then issue the four tokens: admin, NBO officer, GVA officer, viewer."""
    await seed(database, roster)
    async with database.session() as session:
        return [
            await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test"),
            await tokens.create_token(session, "Amina NBO", Role.OFFICER, ["NBO"], actor="test"),
            await tokens.create_token(session, "gva", Role.OFFICER, ["GVA"], actor="test"),
            await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test"),
        ]


@asynccontextmanager
async def console_on(
    database: Database, public_url: str = "http://127.0.0.1:8080"
) -> AsyncIterator[Console]:
    """The console on `database`, seeded with NBO and GVA people and four tokens."""
    issued = await seeded_with_tokens(database, ROSTER)
    settings = Settings(
        http=HttpSettings(public_url=public_url),
        security=SecuritySettings(secret_key=SecretStr(SECRET)),
    )
    clock = HandClock(NOW)
    app = create_app(database, settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    base = "https://test" if public_url.startswith("https") else "http://test"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield Console(client, clock, database, *issued)
