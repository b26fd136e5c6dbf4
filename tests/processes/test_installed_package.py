"""The package installed from its wheel, not editable, works from a directory outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes.daemons import REPOSITORY, free_port, stop, wait_healthy

CONTACTS = REPOSITORY / "contacts"
COMMAND_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Installation:
    """A fresh virtual environment holding the notifier's wheel, and its `notifier` command."""

    venv: Path
    command: Path


def _checked(
    args: list[str | Path], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail with its output when it does not exit 0."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
    )
    output = f"{result.stdout}{result.stderr}"
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{output}"
    return result


def _clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would point Python or the notifier here."""
    dropped = ("NOTIFIER_", "PYTHON", "VIRTUAL_ENV")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """Build the wheel from a copy of the sources, as the Dockerfile does, and install it alone.

    The dependencies are not downloaded again: a `.pth` file appends the test environment's
    site-packages after the fresh one's. A plain path line does not run that directory's own
    `.pth` files, so the editable install of the repository stays out of the way.
    """
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    source.mkdir()
    shutil.copy(REPOSITORY / "pyproject.toml", source)
    shutil.copy(REPOSITORY / "README.md", source)
    shutil.copytree(
        REPOSITORY / "notifier",
        source / "notifier",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _checked([*pip, "wheel", "--no-deps", "--quiet", "-w", root / "dist", source])
    (wheel,) = (root / "dist").glob("notifier-*.whl")
    venv = root / "venv"
    _checked([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _checked([*pip, "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel])
    fresh = _checked([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    dependencies = sysconfig.get_path("purelib")
    (Path(fresh.stdout.strip()) / "test-dependencies.pth").write_text(f"{dependencies}\n")
    imported = _checked(
        [python, "-c", "import notifier; print(notifier.__file__)"],
        cwd=root,
        env=_clean_environment(),
    )
    assert Path(imported.stdout.strip()).is_relative_to(venv), "the editable install shadows it"
    return Installation(venv, venv / "bin" / "notifier")


def _elsewhere(tmp_path: Path) -> Path:
    """An empty working directory that holds nothing of the repository."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def _serving_environment(port: int, **extra: str) -> dict[str, str]:
    return _clean_environment(
        NOTIFIER_HTTP__PORT=str(port),
        NOTIFIER_HTTP__PUBLIC_URL=f"http://127.0.0.1:{port}",
        NOTIFIER_EMAIL__BACKEND="console",
        NOTIFIER_SMS__BACKEND="console",
        NOTIFIER_SMS__RATE_PER_SECOND="1000",
        NOTIFIER_EMAIL__RATE_PER_SECOND="1000",
        NOTIFIER_LOGGING__FORMAT="json",
        **extra,
    )


def _start(
    command: list[str | Path], cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )


def _log_events(log: Path, event: str) -> list[dict[str, object]]:
    """The JSON log lines of `event`; other lines (the demo's greeting) are skipped."""
    events = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            events.append(entry)
    return events


async def test_serve_from_any_directory_renders_the_shipped_templates(
    installed: Installation, tmp_path: Path
) -> None:
    """Upgrade, import, serve and raise an alert outside the repository: messages are rendered."""
    directory = _elsewhere(tmp_path)
    port = free_port()
    env = _serving_environment(port, NOTIFIER_SECURITY__SECRET_KEY="Installed-test-key-4f9Q2x")
    notifier = installed.command
    _checked([notifier, "db", "upgrade"], cwd=directory, env=env)
    _checked([notifier, "stations", "import", CONTACTS / "stations.csv"], cwd=directory, env=env)
    roster = CONTACTS / "roster-africa-middle-east.csv"
    _checked([notifier, "roster", "import", roster], cwd=directory, env=env)
    log = tmp_path / "serve.log"
    daemon = _start([notifier, "serve"], directory, env, log)
    try:
        await wait_healthy(daemon, port, log)
        text = ["--title", "Earthquake", "--message", "Leave by the stairs."]
        send: list[str | Path] = [notifier, "alert", "send", "--stations", "NBO", *text, "--wait"]
        _checked(send, cwd=directory, env=env)
    finally:
        stop(daemon)
    bodies = [str(entry["body"]) for entry in _log_events(log, "sms_to_console")]
    english = [body for body in bodies if "Earthquake" in body and "Reply 1 if safe" in body]
    french = [body for body in bodies if "Répondez 1 si vous êtes en sécurité" in body]
    assert english and french, f"SMS bodies: {bodies}"
    subjects = {str(entry["subject"]) for entry in _log_events(log, "email_to_console")}
    assert "SEVERE: Earthquake" in subjects, subjects
    written = [path.name for path in directory.iterdir()]
    assert all(name.startswith("notifier.db") for name in written), written


async def test_demo_from_any_directory_serves(installed: Installation, tmp_path: Path) -> None:
    """`notifier demo --contacts DIR` run outside the repository sets up its database and serves."""
    directory = _elsewhere(tmp_path)
    port = free_port()
    log = tmp_path / "demo.log"
    demo: list[str | Path] = [installed.command, "demo", "--contacts", CONTACTS]
    process = _start(demo, directory, _serving_environment(port), log)
    try:
        await wait_healthy(process, port, log)
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        stop(process)
    assert health.status_code == 200, health.text
    assert health.json()["database"] == "ok"
    assert (directory / "notifier.db").is_file()
