"""`notifier serve` says in its start-up log where it listens, the port chosen when 0 was asked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from notifier.daemon import http_socket

STARTUP_SECONDS = 30.0


def test_started_log_names_the_address_listened_on(tmp_path: Path) -> None:
    """With http.port 0, `daemon_started` gives `listening` with the real port, which answers,
    beside `public_url`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFIER_")}
    env.update(
        NOTIFIER_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'daemon.db'}",
        NOTIFIER_HTTP__HOST="127.0.0.1",
        NOTIFIER_HTTP__PORT="0",
        NOTIFIER_HTTP__PUBLIC_URL="https://notify.example.org",
        NOTIFIER_SECURITY__SECRET_KEY="test-secret-key-0123456789",
        NOTIFIER_SMS__BACKEND="console",
        NOTIFIER_EMAIL__BACKEND="console",
        NOTIFIER_LOGGING__FORMAT="json",
    )
    command = [sys.executable, "-m", "notifier"]
    upgrade = subprocess.run([*command, "db", "upgrade"], env=env, capture_output=True, timeout=60)
    assert upgrade.returncode == 0
    process = subprocess.Popen(
        [*command, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        started = _started_event(process)
        response = httpx.get(f"{started['listening']}/healthz", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert started["listening"].startswith("http://127.0.0.1:")
    assert not started["listening"].endswith(":0")
    assert started["public_url"] == "https://notify.example.org"
    assert response.status_code == 200


def _started_event(process: subprocess.Popen[str]) -> dict[str, str]:
    """The `daemon_started` log line, read from the daemon's standard error as it comes."""
    assert process.stderr is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        if '"daemon_started"' in line:
            event: dict[str, str] = json.loads(line)
            return event
    raise AssertionError("the daemon did not log daemon_started")


def test_http_connections_send_without_waiting_for_acknowledgements() -> None:
    """The connections the HTTP socket accepts have TCP_NODELAY: an answer written as head
    then body does not wait for the client's delayed acknowledgement (40 ms on Linux)."""
    listening = http_socket("127.0.0.1", 0)
    with listening, socket.create_connection(listening.getsockname()):
        accepted, _ = listening.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
