"""`notifier drill add | list | run | pause | resume | remove` as an operator runs them, on SQLite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from notifier.cli import main
from notifier.store import schema
from notifier.store.engine import Database
from notifier.store.tables import Alert, AuditEntry
from tests.seeding import nairobi_people, seed

ROSTER = [*nairobi_people(2, groups="wardens"), "G1,Hélène Dubois,helene@example.org,,GVA,fr,"]
MONTHLY = ("--stations", "NBO", "--cron", "0 10 1-7 * mon", "--groups", "wardens")


@dataclass(frozen=True)
class Setup:
    """A configuration file and the database it names, migrated and seeded."""

    config: str
    database: Database


@pytest.fixture
async def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    """Two wardens at NBO, one person at GVA."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "notifier.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, ROSTER)
        yield Setup(str(config), database)


async def _run(
    setup: Setup, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    """Run `notifier drill …` in a thread, as its own process would, with the test's config."""
    command = ["drill", argv[0], "--config", setup.config, *argv[1:]]
    status = await asyncio.to_thread(main, command)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def _listed(setup: Setup, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    status, out, _ = await _run(setup, capsys, "list", "--json")
    assert status == 0
    listed: list[dict[str, object]] = json.loads(out)
    return listed


async def test_add_list_run_pause_resume_remove(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """A drill goes through its whole life from the command line, each step audited."""
    status, out, _ = await _run(setup, capsys, "add", "monthly", *MONTHLY)
    assert status == 0 and "drill 'monthly' added: next run" in out and "Africa/Nairobi" in out
    [drill] = await _listed(setup, capsys)
    assert set(drill) == {
        "name", "stations", "groups", "channels", "cron", "timezone", "paused",
        "next_run", "next_run_utc", "last_alert_id", "missed",
    }  # fmt: skip
    assert (drill["stations"], drill["groups"], drill["channels"]) == (
        ["NBO"],
        ["wardens"],
        ["sms", "email"],
    )
    local = datetime.fromisoformat(str(drill["next_run"]))
    assert (local.weekday(), local.day <= 7, local.hour, local.utcoffset()) == (
        0,
        True,
        10,
        datetime.fromisoformat("2027-01-01T00:00+03:00").utcoffset(),
    )
    assert datetime.fromisoformat(str(drill["next_run_utc"])) == local

    status, out, _ = await _run(setup, capsys, "run", "monthly")
    assert status == 0 and "raised alert" in out and "2 recipients" in out
    async with setup.database.session() as session:
        [alert] = (await session.execute(select(Alert))).scalars().all()
    assert (alert.kind, alert.title) == ("drill", "Scheduled drill")
    [drill] = await _listed(setup, capsys)
    assert drill["last_alert_id"] == alert.id

    status, out, _ = await _run(setup, capsys, "pause", "monthly")
    assert (status, out.strip()) == (0, "drill 'monthly' paused: paused, no next run")
    [drill] = await _listed(setup, capsys)
    assert (drill["paused"], drill["next_run"]) == (True, None)
    status, out, _ = await _run(setup, capsys, "resume", "monthly")
    assert status == 0 and "resumed: next run" in out
    status, out, _ = await _run(setup, capsys, "list")
    assert status == 0 and "monthly" in out and "1 drill" in out

    status, out, _ = await _run(setup, capsys, "remove", "monthly")
    assert (status, out.strip()) == (0, "drill 'monthly' removed")
    assert await _listed(setup, capsys) == []
    async with setup.database.session() as session:
        query = select(col(AuditEntry.action)).where(col(AuditEntry.action).startswith("drill."))
        actions = list((await session.execute(query.order_by(col(AuditEntry.id)))).scalars())
    assert actions == ["drill.add", "drill.run", "drill.pause", "drill.resume", "drill.remove"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("--stations", "NBO", "--cron", "0 10 * *"), "--cron: expected 5 fields"),
        (("--stations", "NBO", "--cron", "0 10 * * 8"), "--cron: day of week '8'"),
        (
            ("--stations", "NBO", "--cron", "0 10 * * 1", "--timezone", "Mars/Olympus"),
            "--timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            ("--stations", "NBO,GVA", "--cron", "0 10 * * 1"),
            "--timezone: required: NBO is Africa/Nairobi, GVA is Europe/Zurich",
        ),
        (("--stations", "XYZ", "--cron", "0 10 * * 1"), "--stations: unknown station"),
        (("--stations", "NBO", "--cron", "0 10 * * 1", "--groups", "cooks"), "--groups: no one"),
        (("--stations", "NBO", "--cron", "0 10 * * 1", "--channels", "fax"), "--channels:"),
    ],
)
async def test_bad_input_names_the_option(
    setup: Setup, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], error: str
) -> None:
    """A drill the rules refuse exits 1 with one line naming the option; nothing is stored."""
    status, out, err = await _run(setup, capsys, "add", "monthly", *argv)
    assert (status, out) == (1, "")
    assert err.startswith(error), err
    assert await _listed(setup, capsys) == []


@pytest.mark.parametrize("command", ["run", "pause", "resume", "remove"])
async def test_unknown_drill(
    setup: Setup, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Naming a drill that does not exist exits 1 saying so."""
    status, _, err = await _run(setup, capsys, command, "nope")
    assert (status, err.strip()) == (1, "drill 'nope' does not exist")
