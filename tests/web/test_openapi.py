"""The OpenAPI description against the app's real routes, and as served without a token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.result import Ok
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from notifier.store.engine import Database
from notifier.web.app import create_app
from notifier.web.openapi import document

API = "/api/v1"
METHODS = frozenset({"get", "post", "put", "patch", "delete"})


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    """The app, on a database it never reads in these tests."""
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}") as database:
        yield create_app(database)


def routed(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, method) of every route, mounts walked, HEAD left out (Starlette adds it to GET)."""
    for route in routes:
        if isinstance(route, Mount):
            yield from routed(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    yield prefix + route.path, method.lower()


def described(paths: dict[str, Any]) -> set[tuple[str, str]]:
    """(path, method) of every operation the description holds."""
    return {(path, method) for path, item in paths.items() for method in item if method in METHODS}


async def test_every_api_route_is_described_and_every_description_routed(app: Starlette) -> None:
    """The description and the app's routes under /api/v1 are the same paths and methods."""
    routes = {(path, method) for path, method in routed(app.routes) if path.startswith(API + "/")}
    descriptions = described(document()["paths"])
    assert routes, "no route under /api/v1 found"
    assert routes - descriptions == set(), "routed but not described"
    assert descriptions - routes == set(), "described but not routed"


async def test_the_description_is_served_without_a_token(app: Starlette) -> None:
    """GET /api/openapi.json answers the description as JSON to anyone."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == document()
    assert response.json()["openapi"] == "3.1.0"


def test_every_operation_names_its_answers_errors_and_parameters() -> None:
    """Each operation has an id, a success answer, the 401 error and its path's parameters."""
    seen: set[str] = set()
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"] not in seen, operation["operationId"]
            seen.add(operation["operationId"])
            statuses = set(operation["responses"])
            assert any(status.startswith("2") for status in statuses), (method, path)
            assert "401" in statuses, (method, path)
            in_path = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert in_path == {part[1:-1] for part in path.split("/") if part.startswith("{")}


def test_every_reference_resolves_and_schemathesis_loads_it() -> None:
    """Every `$ref` names a component, and the document loads as an OpenAPI 3.1 schema."""
    doc = document()

    def references(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    for reference in references(doc):
        _, section, kind, name = reference.split("/")
        assert name in doc[section][kind], reference
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == len(described(doc["paths"]))
