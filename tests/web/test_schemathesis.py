"""Schemathesis over the OpenAPI description, against the real app served on loopback.

Each operation gets `MAX_EXAMPLES` generated requests (valid and invalid, the same on every
run) with an admin's token, on a seeded SQLite and PostgreSQL database: no answer may be a
500, and every answer must match its description (status, media type, headers, body
schema). `positive_data_acceptance` is left out: a request that fits the schema may still
name a station that does not exist, which is a 422 no schema can foresee.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi import checks as openapi_checks

from notifier.domain import Role
from notifier.store import schema, tokens
from notifier.store.engine import Database
from notifier.web.app import create_app
from notifier.web.openapi import EXAMPLES, document
from tests.postgres import throwaway_schema
from tests.seeding import nairobi_people, seed

MAX_EXAMPLES = 30
ROSTER = [
    *nairobi_people(3, groups="wardens"),
    "G00001,Hélène Dubois,helene@example.org,+41791234567,GVA,fr,wardens",
]
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.ignored_auth,
]

REJECTED = ["400", "401", "403", "404", "405", "413", "422"]
"""What an invalid request may be answered: 413 too, for a generated body over the limit."""
CONFIG = SchemathesisConfig.from_dict(
    {
        # Unknown query parameters are ignored, as HTTP servers do: not generated.
        "generation": {"allow-extra-parameters": False},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
    }
)
api_schema = schemathesis.openapi.from_dict(document(), config=CONFIG)


@dataclass(frozen=True, slots=True)
class Served:
    """The app's address on loopback and an admin's bearer header."""

    base_url: str
    headers: dict[str, str]


@asynccontextmanager
async def opened(kind: str, directory: Path, postgres_url: str | None) -> AsyncIterator[Database]:
    """A fresh database of `kind`, migrated and seeded."""
    if kind == "sqlite":
        context = Database.open(f"sqlite+aiosqlite:///{directory / 'notifier.db'}")
    else:
        assert postgres_url is not None
        context = throwaway_schema(postgres_url, "schemathesis")
    async with context as database:
        await schema.upgrade(database)
        await seed(database, ROSTER)
        yield database


class Server(threading.Thread):
    """The app under uvicorn, in a thread with its own event loop, until `stop`."""

    def __init__(self, kind: str, directory: Path, postgres_url: str | None) -> None:
        super().__init__(daemon=True)
        self.kind, self.directory, self.postgres_url = kind, directory, postgres_url
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.ready = threading.Event()
        self.token = ""
        self.failure: BaseException | None = None
        self.server: uvicorn.Server | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to the test by `started`
            self.failure = error
            self.ready.set()

    async def _serve(self) -> None:
        async with opened(self.kind, self.directory, self.postgres_url) as database:
            async with database.session() as session:
                self.token = await tokens.create_token(
                    session, "admin", Role.ADMIN, [], actor="test"
                )
            config = uvicorn.Config(create_app(database), log_level="warning", lifespan="off")
            self.server = uvicorn.Server(config)
            serving = asyncio.create_task(self.server.serve(sockets=[self.listener]))
            while not self.server.started and not serving.done():
                await asyncio.sleep(0.01)
            self.ready.set()
            await serving

    def started(self) -> Served:
        """Wait until the server listens; its address and the admin's header."""
        assert self.ready.wait(60), "the server did not start"
        if self.failure is not None:
            raise self.failure
        host, port = self.listener.getsockname()[:2]
        return Served(f"http://{host}:{port}", {"Authorization": f"Bearer {self.token}"})

    def stop(self) -> None:
        """Let uvicorn finish and the database close."""
        if self.server is not None:
            self.server.should_exit = True
        self.join(30)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The app on loopback over a seeded database of each kind, for the whole module."""
    postgres_url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    server = Server(request.param, tmp_path_factory.mktemp("schemathesis"), postgres_url)
    server.start()
    try:
        found = server.started()
        raise_and_schedule(found)
        yield found
    finally:
        server.stop()


def raise_and_schedule(served: Served) -> None:
    """Alert 1 and the drill `weekly`, the ids the description's examples name."""
    with httpx.Client(base_url=served.base_url, headers=served.headers) as client:
        alert = client.post("/api/v1/alerts", json=EXAMPLES["AlertRequest"])
        assert alert.status_code == 202, alert.text
        drill = client.post("/api/v1/drills", json=EXAMPLES["DrillRequest"] | {"name": "weekly"})
        assert drill.status_code == 201, drill.text


@api_schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same requests on every run: a failure in CI can be replayed
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_described(
    case: schemathesis.Case[APIOperation[Any, Any, Any, Any]], served: Served
) -> None:
    """No 500, and every answer matches the description of its operation."""
    case.call_and_validate(
        base_url=served.base_url, headers=served.headers, checks=CHECKS, timeout=30
    )
