"""`notifier report ALERT_ID` in each format, run as an officer would, on a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from notifier.cli import main
from notifier.store import schema
from notifier.store.engine import Database
from tests.report_alert import raise_known_alert


@pytest.fixture
async def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A configuration file naming a database that holds the known alert (id 1)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "notifier.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    async with Database.open(url) as database:
        await schema.upgrade(database)
        assert await raise_known_alert(database, title="<script>x</script>") == 1
    yield str(config)


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in a thread, as its own process would: it runs its own event loop."""
    status = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def test_text_report(configured: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The text report gives the figures and lists who has not answered."""
    status, out, _ = await _run(capsys, "report", "1", "--config", configured)
    assert status == 0
    assert "acknowledged 9 (75.0%)" in out
    assert "p50 40.0 s, p90 80.0 s, p99 80.0 s" in out
    assert "not answered (3):" in out and "N00009  Person 9 (NBO)" in out


async def test_json_report(configured: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--format json` prints the report's JSON; messages sent without a price are unpriced."""
    status, out, _ = await _run(capsys, "report", "1", "--format", "json", "--config", configured)
    assert status == 0
    body = json.loads(out)
    assert body["curve"][-1] == [80.0, 9]
    assert body["sms_segments"] == 0
    assert body["cost"] == {
        "currency": "USD",
        "sms": 0,
        "email": 0,
        "whatsapp": 0,
        "voice": 0,
        "total": 0,
        "unpriced": 0,
    }


async def test_csv_report(configured: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--format csv` prints one row per recipient."""
    status, out, _ = await _run(capsys, "report", "1", "--format", "csv", "--config", configured)
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["person_id"] for row in rows][:3] == ["G1", "G2", "N00000"]
    assert rows[1]["email_state"] == "failed"


async def test_html_report_to_a_file(
    configured: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--format html --out FILE` writes the page there, the title escaped."""
    out_file = tmp_path / "report.html"
    argv = ("report", "1", "--format", "html", "--out", str(out_file), "--config", configured)
    status, out, _ = await _run(capsys, *argv)
    assert (status, out) == (0, "")
    assert "&lt;script&gt;x&lt;/script&gt;" in out_file.read_text(encoding="utf-8")


async def test_png_report_needs_out(
    configured: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """PNG is refused on standard output, and written to --out as an image."""
    status, _, err = await _run(capsys, "report", "1", "--format", "png", "--config", configured)
    assert (status, err.strip()) == (1, "--out: required for png")
    out_file = tmp_path / "curve.png"
    argv = ("report", "1", "--format", "png", "--out", str(out_file), "--config", configured)
    status, _, _ = await _run(capsys, *argv)
    assert status == 0
    assert Image.open(out_file).size == (800, 450)


async def test_unknown_alert(configured: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing alert is an error naming it, status 1."""
    status, _, err = await _run(capsys, "report", "99", "--config", configured)
    assert (status, err.strip()) == (1, "alert 99 does not exist")
