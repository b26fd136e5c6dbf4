"""`notifier alert send --preview`: what raising would send, printed; nothing written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier.cli import main
from notifier.store import schema
from notifier.store.engine import Database
from notifier.store.tables import ALERT, AuditEntry
from tests.seeding import nairobi_people, seed

ROSTER = [*nairobi_people(3), "R1,Ivan Petrov,,+41791234567,NBO,ru,"]
EARTHQUAKE = ("--title", "Earthquake", "--message", "Leave the building by the stairs.")


@dataclass(frozen=True)
class Setup:
    """A configuration file and the database it names, migrated and seeded."""

    config: str
    database: Database


@pytest.fixture
async def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    """Three English speakers at NBO and a Russian with a Swiss phone alone; priced, rated."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "notifier.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[sms]\nrate_per_second = 2\n[email]\nrate_per_second = 4\n'
        '[costs]\ncurrency = "EUR"\nsms_segment_price = 0.05\nemail_price = 0.001\n'
        "[costs.sms_segment_prices]\nCH = 0.1\n"
    )
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, ROSTER)
        yield Setup(str(config), database)


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in a thread, as its own process would: it runs its own event loop."""
    status = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def _written(database: Database) -> tuple[int, int]:
    async with database.session(read_only=True) as session:
        alerts = await session.scalar(select(func.count()).select_from(ALERT))
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return int(alerts or 0), int(audit or 0)


async def test_preview_json_counts_prices_and_times(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON is the API's preview: 4 SMS (one UCS-2, Swiss), 3 e-mails, at 2/s and 4/s."""
    before = await _written(setup.database)
    argv = ("alert", "send", "--config", setup.config, "--stations", "NBO", *EARTHQUAKE)
    status, out, _ = await _run(capsys, *argv, "--preview", "--json")
    assert status == 0
    body = json.loads(out)
    assert (body["recipients"], body["channels"], body["unreachable"]) == (
        4,
        {"sms": 4, "email": 3, "whatsapp": 0, "voice": 0},
        0,
    )
    russian = next(row for row in body["languages"] if row["language"] == "ru")
    assert (russian["people"], russian["sms"]["encoding"]) == (1, "UCS-2")
    english = next(row for row in body["languages"] if row["language"] == "en")
    segments = 3 * english["sms"]["segments"] + russian["sms"]["segments"]
    assert body["sms_segments"] == segments
    sms = round(0.05 * 3 * english["sms"]["segments"] + 0.1 * russian["sms"]["segments"], 6)
    assert body["cost"] == {
        "currency": "EUR",
        "sms": sms,
        "email": 0.003,
        "whatsapp": 0.0,
        "total": sms + 0.003,
    }
    assert body["seconds"] == {"sms": 2.0, "email": 0.8, "total": 2.0}
    assert await _written(setup.database) == before


async def test_preview_text_shows_each_language_and_sends_nothing(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text names the totals and shows each language's SMS line by line."""
    before = await _written(setup.database)
    argv = ("alert", "send", "--config", setup.config, "--stations", "NBO", *EARTHQUAKE)
    status, out, _ = await _run(capsys, *argv, "--preview")
    assert status == 0
    assert out.startswith("preview (nothing is sent): 4 recipients, 0 reachable by neither")
    assert "ru: 1 people; SMS in UCS-2" in out
    assert "  | Leave the building by the stairs." in out
    assert "everyone reached in about 2.0 s" in out
    assert await _written(setup.database) == before


async def test_preview_of_an_unknown_station_names_the_option(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input is refused as raising refuses it: exit 1, the option named."""
    argv = ("alert", "send", "--config", setup.config, "--stations", "XYZ", *EARTHQUAKE)
    status, out, err = await _run(capsys, *argv, "--preview")
    assert (status, out) == (1, "")
    assert "--stations: unknown station(s): XYZ" in err
