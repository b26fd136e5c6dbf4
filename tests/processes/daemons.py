"""Run `notifier serve` as real processes against fake providers, for crash and replica tests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

REPOSITORY = Path(__file__).parent.parent.parent
ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "process-test-auth-token"
STARTUP_SECONDS = 30


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def daemon_environment(
    database_url: str, smtp_port: int, twilio_url: str, http_port: int, **extra: str
) -> dict[str, str]:
    """The environment of a daemon sending to the fakes; `extra` overrides any key."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFIER_")}
    env.update(
        NOTIFIER_DATABASE__URL=database_url,
        NOTIFIER_HTTP__PORT=str(http_port),
        NOTIFIER_HTTP__PUBLIC_URL=f"http://127.0.0.1:{http_port}",
        NOTIFIER_SECURITY__SECRET_KEY="process-test-secret-key",
        NOTIFIER_EMAIL__HOST="127.0.0.1",
        NOTIFIER_EMAIL__PORT=str(smtp_port),
        NOTIFIER_EMAIL__TLS="none",
        NOTIFIER_EMAIL__POOL_SIZE="4",
        NOTIFIER_EMAIL__RATE_PER_SECOND="1000",
        NOTIFIER_SMS__ACCOUNT_SID=ACCOUNT_SID,
        NOTIFIER_SMS__AUTH_TOKEN=AUTH_TOKEN,
        NOTIFIER_SMS__FROM_NUMBER="+15005550006",
        NOTIFIER_SMS__API_BASE_URL=twilio_url,
        NOTIFIER_SMS__RATE_PER_SECOND="1000",
        NOTIFIER_SMS__CONCURRENCY="8",
        NOTIFIER_DISPATCH__LEASE_SECONDS="3",
        NOTIFIER_DISPATCH__POLL_INTERVAL_SECONDS="0.1",
        NOTIFIER_DISPATCH__BACKOFF_BASE_SECONDS="0.1",
        NOTIFIER_LOGGING__FORMAT="json",
        NOTIFIER_LOGGING__LEVEL="warning",
    )
    env.update(extra)
    return env


def start_daemon(
    env: Mapping[str, str], log: Path, *, open_files: int | None = None
) -> subprocess.Popen[bytes]:
    """Start `notifier serve` with its output going to `log`; `open_files` caps `ulimit -n`."""
    limit = [] if open_files is None else ["prlimit", f"--nofile={open_files}:{open_files}", "--"]
    with log.open("ab") as output:
        return subprocess.Popen(
            [*limit, sys.executable, "-m", "notifier", "serve"],
            env=dict(env),
            cwd=REPOSITORY,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Wait until the daemon answers /healthz; fail with its log if it exits or stays silent."""
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"daemon exited {process.returncode}:\n{log.read_text()}")
            try:
                if (
                    await client.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                ).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"daemon did not become healthy:\n{log.read_text()}")


def events(log: Path, name: str) -> list[dict[str, object]]:
    """The events called `name` in a daemon's JSON log."""
    found = []
    for line in log.read_text().splitlines():
        if f'"{name}"' in line:
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a daemon still running (SIGTERM, then SIGKILL)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
