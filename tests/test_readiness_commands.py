"""`notifier report --station CODE`: usage errors, JSON, text and the HTML page, on SQLite."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from notifier import report_commands
from notifier.access import Principal
from notifier.cli import build_parser, main
from notifier.domain import Role
from notifier.readiness import add_months
from notifier.settings import Settings
from notifier.store import schema
from notifier.store.engine import Database
from tests.clock import HandClock
from tests.readiness_station import NOW, build

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?!data:)|url\(|@import|https?://""", re.I)


@pytest.fixture
async def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A configuration file naming a database where NBO is built at level 4."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "notifier.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await build(database, 4)
    yield str(config)


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in a thread, as its own process would: it runs its own event loop."""
    status = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "give exactly one of ALERT_ID and --station CODE"),
        (("1", "--station", "NBO"), "give exactly one of ALERT_ID and --station CODE"),
        (("--station", "NBO", "--format", "png"), "--format png: not with --station"),
        (("--station", "NBO", "--format", "csv"), "--format csv: not with --station"),
        (("1", "--months", "3"), "--months: only with --station"),
        (("--station", "NBO", "--months", "0"), "must be 1 to 60, got 0"),
        (("--station", "NBO", "--months", "x"), "not a whole number of months"),
    ],
)
def test_usage_errors_exit_2(
    argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither or both of ALERT_ID and --station, or options that do not fit, exit 2."""
    with pytest.raises(SystemExit) as usage:
        main(["report", *argv])
    assert usage.value.code == 2
    assert message in capsys.readouterr().err


async def test_json_with_a_shorter_window(
    configured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format json --months 3` gives the readiness judged over three months up to now."""
    argv = ("report", "--station", "nbo", "--months", "3", "--format", "json")
    status, out, _ = await _run(capsys, *argv, "--config", configured)
    assert status == 0
    body = json.loads(out)
    assert body["station"]["code"] == "NBO"
    start, end = (datetime.fromisoformat(body["window"][key]) for key in ("start", "end"))
    assert add_months(end, -3) == start
    assert {c["key"] for c in body["criteria"]} >= {"drill_run", "not_falling"}


async def test_unknown_station_exits_1(configured: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A station that does not exist is bad input, named."""
    status, _, err = await _run(capsys, "report", "--station", "XYZ", "--config", configured)
    assert status == 1
    assert "station XYZ: no such station" in err


async def test_report_at_a_known_time(
    configured: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """At the builder's time NBO is at level 4: the text names what level 5 misses; the page
    written to --out holds the trend plot and fetches nothing."""
    settings = Settings.model_validate(
        {"database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}}
    )
    admin = Principal("cli", Role.ADMIN)
    args = build_parser().parse_args(["report", "--station", "NBO"])
    assert await report_commands.report(args, settings, admin, HandClock(NOW)) == 0
    out = capsys.readouterr().out
    assert "readiness level 4 of 5" in out
    assert "[MISSED] level 5: last 3 drills acknowledged 100 % → 80 % → 100 %, needs no fall" in out
    page = tmp_path / "nbo.html"
    args = build_parser().parse_args(
        ["report", "--station", "NBO", "--format", "html", "--out", str(page)]
    )
    assert await report_commands.report(args, settings, admin, HandClock(NOW)) == 0
    html = page.read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in html
    assert EXTERNAL.search(html) is None
