"""`notifier serve`: starts, answers /healthz, and stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from notifier.store.engine import Database
from notifier.web.app import create_app

STARTUP_SECONDS = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFIER_")}
    env.update(
        NOTIFIER_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'daemon.db'}",
        NOTIFIER_HTTP__PORT=str(port),
        NOTIFIER_HTTP__PUBLIC_URL=f"http://127.0.0.1:{port}",
        NOTIFIER_SECURITY__SECRET_KEY="test-secret-key-0123456789",
        NOTIFIER_SMS__BACKEND="console",
        NOTIFIER_EMAIL__BACKEND="console",
        NOTIFIER_LOGGING__FORMAT="json",
    )
    env.update(extra)
    return env


def _notifier(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A running `notifier serve` on a migrated SQLite database, and its base URL."""
    port = _free_port()
    env = _environment(tmp_path, port)
    assert _notifier("db", "upgrade", env=env).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_health_and_stops_cleanly(
    daemon: tuple[subprocess.Popen[str], str], stop_signal: signal.Signals
) -> None:
    """/healthz reports the database; SIGTERM or SIGINT drains and exits 0 with a log line."""
    process, base = daemon
    response = httpx.get(f"{base}/healthz", timeout=5)
    assert response.status_code == 200
    idle = {"email": {"state": "idle"}, "sms": {"state": "idle"}}
    assert response.json() == {"status": "ok", "database": "ok", "channels": idle}
    process.send_signal(stop_signal)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert '"event": "daemon_stopping"' in err
    assert '"event": "daemon_stopped"' in err
    assert "Traceback" not in err


def test_serve_without_secret_key_stops_with_one_line(tmp_path: Path) -> None:
    """Without a secret key, serve exits 1 before starting, naming the key."""
    env = _environment(tmp_path, _free_port(), NOTIFIER_SECURITY__SECRET_KEY="")
    result = _notifier("serve", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "configuration error: security.secret_key: required to serve; "
        "make one with `notifier secret` and set NOTIFIER_SECURITY__SECRET_KEY"
    ]


@pytest.mark.parametrize("taken", ["http", "email.inbound"])
def test_serve_names_the_port_it_cannot_listen_on(tmp_path: Path, taken: str) -> None:
    """A port already in use stops serve with exit 1 and one line naming the setting."""
    with socket.create_server(("127.0.0.1", 0)) as occupied:
        port = occupied.getsockname()[1]
        free = _free_port()
        http, inbound = (port, free) if taken == "http" else (free, port)
        env = _environment(
            tmp_path,
            http,
            NOTIFIER_EMAIL__INBOUND__ENABLED="true",
            NOTIFIER_EMAIL__INBOUND__PORT=str(inbound),
        )
        assert _notifier("db", "upgrade", env=env).returncode == 0
        result = _notifier("serve", env=env)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        f"configuration error: {taken}: cannot listen on 127.0.0.1:{port}: "
    )


def test_serve_refuses_a_database_never_upgraded(tmp_path: Path) -> None:
    """serve exits 1 and says to run `notifier db upgrade` when the schema is missing."""
    result = _notifier("serve", env=_environment(tmp_path, _free_port()))
    assert result.returncode == 1
    assert "run `notifier db upgrade` first" in result.stderr


async def test_health_is_503_when_the_database_is_unreachable() -> None:
    """/healthz answers 503 when the database does not answer, so a balancer routes around it."""
    async with Database.open("postgresql+asyncpg://nobody@127.0.0.1:1/none") as database:
        app = create_app(database)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await client.get("/healthz")
    assert response.status_code == 503
    idle = {"email": {"state": "idle"}, "sms": {"state": "idle"}}
    assert response.json() == {"status": "error", "database": "unreachable", "channels": idle}


def test_demo_sets_up_and_sends_a_drill_to_the_log(tmp_path: Path) -> None:
    """`notifier demo` migrates, imports the samples, serves, and sends alerts to the log."""
    port = _free_port()
    env = _environment(tmp_path, port, NOTIFIER_SECURITY__SECRET_KEY="")
    repository = Path(__file__).parent.parent
    printed = tmp_path / "demo.out"  # a file: the messages printed in full would fill a pipe
    with printed.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "notifier", "demo", "--contacts", str(repository / "contacts")],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        lines = printed.read_text().splitlines()
        token = next(line.split()[-1] for line in lines if "admin API token" in line)
        answer = httpx.post(
            f"{base}/api/v1/alerts",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "title": "Drill",
                "message": "Go to the assembly point.",
                "stations": ["NBO"],
                "kind": "drill",
            },
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        alert = f"{base}/api/v1/alerts/{answer.json()['id']}"
        headers = {"Authorization": f"Bearer {token}"}
        while (
            time.monotonic() < deadline
            and httpx.get(alert, headers=headers).json()["status"] != "dispatched"
        ):
            time.sleep(0.2)
        assert httpx.get(alert, headers=headers).json()["status"] == "dispatched"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-2000:]
    assert '"event": "sms_to_console"' in err
    assert '"event": "email_to_console"' in err
    assert "----- e-mail console-" in printed.read_text()
