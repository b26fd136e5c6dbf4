"""`notifier audit export` run as a user would: the CLI's actions with their source, CSV that
reads back, --since, usage errors, and --out written whole or not at all."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from notifier import sources
from notifier.audit_rows import CSV_COLUMNS
from notifier.cli import main
from notifier.store.audit import AUDIT_LOG
from notifier.store.engine import Database
from tests.seeding import HEADER, STATIONS, nairobi_people


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A configuration file for a fresh, upgraded SQLite database."""
    path = tmp_path / "notifier.toml"
    path.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n')
    for name in os.environ:
        if name.startswith("NOTIFIER_"):
            monkeypatch.delenv(name)
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _fill(config: str, moments: list[datetime]) -> None:
    """One entry made at each of `moments`, written straight to the database."""
    url = Path(config).read_text().split('"')[1]
    rows = [
        {"at": at, "actor": "a", "source": "s", "action": "test", "target": f"t{i}", "details": {}}
        for i, at in enumerate(moments)
    ]

    async def fill() -> None:
        async with Database.open(url) as database, database.session() as session:
            await session.execute(insert(AUDIT_LOG), rows)

    asyncio.run(fill())


def _exported(capsys: pytest.CaptureFixture[str], config: str, *more: str) -> list[dict[str, str]]:
    status, out, err = _run(capsys, "audit", "export", "--config", config, *more)
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == ",".join(CSV_COLUMNS)
    return list(csv.DictReader(io.StringIO(out)))


def test_command_line_actions_are_exported_with_their_source(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Imports, tokens, an alert and a drill done on the command line show `cli user@host`."""
    stations = tmp_path / "stations.csv"
    stations.write_text(STATIONS, encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + "".join(f"{row}\n" for row in nairobi_people(2)), encoding="utf-8")
    done = [
        ("stations", "import", "--config", config, str(stations)),
        ("roster", "import", "--config", config, str(roster)),
        ("token", "create", "--config", config, "--name", "=ops", "--role", "admin"),
        ("token", "revoke", "--config", config, "=ops"),
        (
            "alert",
            "send",
            "--config",
            config,
            "--stations",
            "NBO",
            "--title",
            "T",
            "--message",
            "M",
        ),
        ("drill", "add", "m", "--config", config, "--stations", "NBO", "--cron", "0 10 * * 1"),
        ("drill", "pause", "m", "--config", config),
    ]
    for argv in done:
        assert _run(capsys, *argv)[0] == 0, argv
    _, listing, _ = _run(capsys, "alert", "list", "--config", config, "--json")
    alert_id = json.loads(listing)[0]["id"]
    assert _run(capsys, "alert", "cancel", str(alert_id), "--config", config)[0] == 0
    rows = _exported(capsys, config)
    assert [row["action"] for row in rows] == [
        "stations.import",
        "roster.import",
        "token.create",
        "token.revoke",
        "alert.raise",
        "drill.add",
        "drill.pause",
        "alert.cancel",
    ]
    assert {row["source"] for row in rows} == {sources.command_line()}
    assert sources.command_line().startswith("cli ")
    assert all(row["actor"].startswith("cli") for row in rows)
    assert [row["target"] for row in rows[2:4]] == ["'=ops", "'=ops"]  # no formula
    assert json.loads(rows[1]["details"]) == {"added": 2, "changed": 0, "deactivated": 0}
    moments = [datetime.fromisoformat(row["at"]) for row in rows]
    assert all(moment.utcoffset() == timedelta(0) for moment in moments)
    assert moments == sorted(moments)


def test_since_keeps_the_entries_from_that_day_on(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since 2026-03-01 starts at midnight UTC on that day."""
    day = datetime(2026, 3, 1, tzinfo=UTC)
    _fill(config, [day - timedelta(microseconds=1), day, day + timedelta(days=40)])
    rows = _exported(capsys, config, "--since", "2026-03-01")
    assert [row["target"] for row in rows] == ["t1", "t2"]
    assert rows[0]["at"] == "2026-03-01T00:00:00.000000+00:00"


@pytest.mark.parametrize("since", ["2026-02-30", "01/03/2026", "soon"])
def test_a_bad_since_is_a_usage_error_naming_it(
    config: str, capsys: pytest.CaptureFixture[str], since: str
) -> None:
    """A date that is not YYYY-MM-DD exits with status 2, naming --since."""
    with pytest.raises(SystemExit) as done:
        main(["audit", "export", "--config", config, "--since", since])
    assert done.value.code == 2
    assert "argument --since: expected a date as YYYY-MM-DD" in capsys.readouterr().err


def test_a_long_log_goes_whole_to_the_out_file(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """20,000 entries are written to --out, oldest first, with nothing left beside the file."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    _fill(config, [start + timedelta(seconds=i) for i in range(20_000)])
    out = tmp_path / "exports" / "audit.csv"
    out.parent.mkdir()
    out.write_text("an older export\n")
    status, printed, err = _run(capsys, "audit", "export", "--config", config, "--out", str(out))
    assert (status, printed) == (0, "")
    assert err == f"audit log: 20000 entries written to {out}\n"
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["target"] for row in rows] == [f"t{i}" for i in range(20_000)]
    assert [path.name for path in out.parent.iterdir()] == ["audit.csv"]


def test_a_failed_export_leaves_no_file_behind(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming a directory fails with status 1 and leaves no partial file."""
    _fill(config, [datetime(2026, 1, 1, tzinfo=UTC)])
    target = tmp_path / "exports"
    (target / "audit.csv").mkdir(parents=True)
    out = str(target / "audit.csv")
    status, printed, err = _run(capsys, "audit", "export", "--config", config, "--out", out)
    assert (status, printed) == (1, "")
    assert "audit.csv" in err
    assert [path.name for path in target.iterdir()] == ["audit.csv"]
    assert (target / "audit.csv").is_dir()
