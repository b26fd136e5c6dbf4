"""`notifier alert cap | from-cap | send --from-draft` run as an officer would, on both databases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from notifier.cli import main
from notifier.domain import Role
from notifier.store import materialisation, tokens
from notifier.store.engine import Database
from notifier.store.tables import ALERT
from notifier.web.app import create_app
from tests.cap_stations import SETTINGS, example, seed_cap_world

QUAKE = ("--stations", "NBO", "--title", "Earthquake", "--message", "Leave the building.")


@dataclass(frozen=True, slots=True)
class Setup:
    """A configuration file naming the test database, with the CAP settings of the API tests."""

    config: str
    database: Database
    directory: Path


@pytest.fixture
async def setup(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Setup]:
    """The stations around the examples' areas, and a configuration for the command line."""
    await seed_cap_world(database)
    url = database.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "notifier.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[cap]\nsender = "ens@example.org"\n'
        '[cap.geocodes.SAME]\n"006109" = ["SONORA"]\n"006037" = ["LAX"]\n',
        encoding="utf-8",
    )
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    yield Setup(str(config), database, tmp_path)


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in a thread, as its own process would: it runs its own event loop."""
    status = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def _exit_status(*argv: str) -> int:
    """The status of a command that argparse refuses (it raises SystemExit)."""
    with pytest.raises(SystemExit) as stopped:
        await asyncio.to_thread(main, list(argv))
    return int(stopped.value.code or 0)


async def test_alert_cap_prints_the_document_the_api_serves(
    setup: Setup, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`alert cap ID` writes byte for byte what GET /api/v1/alerts/{id}/cap answers."""
    assert await asyncio.to_thread(main, ["alert", "send", "--config", setup.config, *QUAKE]) == 0
    capsysbinary.readouterr()
    status = await asyncio.to_thread(main, ["alert", "cap", "--config", setup.config, "1"])
    printed = capsysbinary.readouterr().out
    assert status == 0
    async with setup.database.session() as session:
        token = await tokens.create_token(session, "admin", Role.ADMIN, [], actor="test")
    transport = httpx.ASGITransport(app=create_app(setup.database, SETTINGS))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        served = await client.get(
            "/api/v1/alerts/1/cap", headers={"Authorization": f"Bearer {token}"}
        )
    assert served.status_code == 200
    assert printed == served.content
    assert b"<identifier>ens@example.org:alert:1:" in printed


async def test_alert_cap_of_no_alert_fails(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown id is said on standard error, with status 1 and nothing on standard output."""
    status, out, err = await _run(capsys, "alert", "cap", "--config", setup.config, "42")
    assert (status, out) == (1, "")
    assert "alert 42 does not exist" in err


async def test_from_cap_makes_a_draft_that_send_from_draft_raises(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """from-cap drafts A.2 for ALPINE and SONORA once; list shows it; send --from-draft raises it."""
    file = setup.directory / "storm.xml"
    file.write_bytes(example("ThunderstormWarning"))
    status, out, err = await _run(capsys, "alert", "from-cap", "--config", setup.config, str(file))
    assert status == 0
    assert out.startswith("draft alert 1 (emergency, severe) for ALPINE, SONORA: ")
    assert "notifier alert send --from-draft 1" in err
    status, out, _ = await _run(capsys, "alert", "from-cap", "--config", setup.config, str(file))
    assert (status, out.split(":")[0]) == (0, "already imported")
    status, out, _ = await _run(capsys, "alert", "list", "--config", setup.config, "--json")
    assert [(row["id"], row["status"]) for row in json.loads(out)] == [(1, "draft")]
    async with setup.database.session() as session:
        assert await materialisation.alerts_to_materialise(session) == []
    status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1")
    assert status == 0
    assert "draft" in out
    status, out, _ = await _run(
        capsys, "alert", "send", "--config", setup.config, "--from-draft", "1", "--json"
    )
    assert status == 0
    assert (json.loads(out)["status"], json.loads(out)["recipients"]) == ("dispatching", 2)
    async with setup.database.session() as session:
        assert [alert for alert, _ in await materialisation.alerts_to_materialise(session)] == [1]
    status, _, err = await _run(
        capsys, "alert", "send", "--config", setup.config, "--from-draft", "1"
    )
    assert status == 1
    assert "not a draft" in err


async def test_from_cap_refuses_an_invalid_document_by_element(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad value is named with its element and the file; status 1, nothing written."""
    file = setup.directory / "bad.xml"
    file.write_bytes(
        example("EarthquakeReport").replace(b"<certainty>Observed", b"<certainty>Sure")
    )
    status, out, err = await _run(capsys, "alert", "from-cap", "--config", setup.config, str(file))
    assert (status, out) == (1, "")
    assert err.startswith(f"{file}: not valid CAP 1.2") and "certainty" in err
    async with setup.database.session() as session:
        assert (await session.execute(select(ALERT.c.id))).all() == []


async def test_send_options_fit_from_draft_or_not(setup: Setup) -> None:
    """--from-draft takes nothing the draft says; without it --title and --message are needed."""
    config = ("alert", "send", "--config", setup.config)
    assert await _exit_status(*config, "--from-draft", "1", "--title", "x") == 2
    assert await _exit_status(*config, "--from-draft", "1", "--preview") == 2
    assert await _exit_status(*config, "--stations", "NBO", "--title", "x") == 2


async def test_from_cap_names_the_file_when_no_station_is_in_its_areas(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A.1 (the whole nation, no geometry or geocode of ours): status 1, the file named."""
    file = setup.directory / "advisory.xml"
    file.write_bytes(example("HomelandAlert"))
    status, out, err = await _run(capsys, "alert", "from-cap", "--config", setup.config, str(file))
    assert (status, out) == (1, "")
    assert err.startswith(f"{file}: no station is inside the message's areas"), err
    async with setup.database.session() as session:
        assert (await session.execute(select(ALERT.c.id))).all() == []
