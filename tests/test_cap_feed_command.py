"""`notifier alert feeds`: what each CAP feed brought, as an administrator reads it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from notifier.cap_feed_poller import CapFeedPoller
from notifier.cap_fetch import http_session
from notifier.cli import main
from notifier.settings import load_settings
from notifier.store.engine import Database
from notifier.store.scheduler_lock import OneProcessLock
from tests.cap_stations import example, seed_cap_world
from tests.clock import HandClock
from tests.fakes.feed_server import FeedServer
from tests.test_cap_feed_poller import BEFORE_THE_STORM_ENDS, FEED, atom


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The command's exit status and output (and not what was printed before it ran)."""
    capsys.readouterr()
    status = await asyncio.to_thread(main, list(argv))
    return status, capsys.readouterr().out


async def test_feeds_not_polled_yet_say_so(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    url = database.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "notifier.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[[cap.feeds]]\nurl = "https://warnings.example.org/a"\n'
        '[[cap.feeds]]\nurl = "https://warnings.example.org/b"\n',
        encoding="utf-8",
    )
    status, out = await _run(capsys, "alert", "feeds", "--config", str(config))
    assert status == 0
    assert out.count("not polled yet") == 2
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    status, out = await _run(capsys, "alert", "feeds", "--config", str(config))
    assert (status, out) == (0, "no CAP feed: cap.feeds is empty\n")


async def test_feeds_show_their_last_poll_and_entries(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    await seed_cap_world(database)
    url = database.engine.url.render_as_string(hide_password=False)
    async with FeedServer() as server, http_session() as http:
        config = tmp_path / "notifier.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\n'
            f'[[cap.feeds]]\nurl = "{server.url(FEED)}"\n'
            f'[[cap.feeds]]\nurl = "{server.url("/other.atom")}"\nstations = ["LAX"]\n',
            encoding="utf-8",
        )
        settings = load_settings(config, {})
        # Polled before any command runs: a command configures logging, and the poller's
        # logger, first used after that, would keep that configuration for later tests.
        server.publish("/cap/quake.xml", example("EarthquakeReport"), "application/cap+xml")
        server.publish("/cap/broken.xml", b"<alert>", "application/cap+xml")
        server.publish(FEED, atom(("urn:quake", "/cap/quake.xml"), ("urn:bad", "/cap/broken.xml")))
        poller = CapFeedPoller(
            database, settings, HandClock(BEFORE_THE_STORM_ENDS), OneProcessLock()
        )
        first, other = settings.cap.feeds
        await poller.poll(http, first)
        server.fail("/other.atom", 503)
        await poller.poll(http, other)
    status, out = await _run(capsys, "alert", "feeds", "--config", str(config))
    assert status == 1, "a feed whose last poll failed is exit status 1"
    lines = out.splitlines()
    assert lines[0] == f"{first.url}  every 300 s, for all stations"
    assert lines[1].startswith("  last poll 2003-06-17T22:00:00+00:00: read")
    assert "refused  urn:bad  (not well-formed XML" in lines[2]
    assert "draft    alert 1  urn:quake" in lines[3]
    assert lines[4] == f"{other.url}  every 300 s, for LAX"
    assert "failed (1 in a row): HTTP 503 Service Unavailable" in lines[5]
    status, out = await _run(capsys, "alert", "feeds", "--config", str(config), "--json")
    reports = json.loads(out)
    assert [entry["outcome"] for entry in reports[0]["entries"]] == ["refused", "draft"]
    assert reports[1]["failures"] == 1 and reports[1]["entries"] == []
    status, out = await _run(capsys, "alert", "feeds", "--config", str(config), "--entries", "1")
    assert "urn:quake" not in out and "urn:bad" in out
