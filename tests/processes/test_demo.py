"""`notifier demo` as a new user runs it: same token across restarts, answered by SMS and link."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.processes.daemons import REPOSITORY, free_port, stop, wait_healthy
from tests.processes.test_answers import eventually

CONTACTS = REPOSITORY / "contacts"
TOKEN_LINE = re.compile(r"^demo: admin API token (ntf_\S+)$", re.MULTILINE)
LINK = re.compile(r"http://127\.0\.0\.1:\d+/ack/[A-Za-z0-9]+")
OTIENO = "+254711756237"  # P200002 at NBO, in contacts/roster-africa-middle-east.csv
ACHIENG = "+254722328099"  # P200003 at NBO
MICHAEL = "+16465550100"  # P100002 at NYC


def _environment(port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFIER_")}
    env.update(
        NOTIFIER_HTTP__PORT=str(port),
        NOTIFIER_HTTP__PUBLIC_URL=f"http://127.0.0.1:{port}",
        NOTIFIER_LOGGING__FORMAT="json",
        NOTIFIER_DISPATCH__POLL_INTERVAL_SECONDS="0.1",
    )
    return env


def _notifier(directory: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def _demo(directory: Path, env: dict[str, str], run: int) -> Iterator[subprocess.Popen[bytes]]:
    """`notifier demo` in `directory`, its output in demo-RUN.out and demo-RUN.err there."""
    with (
        (directory / f"demo-{run}.out").open("wb") as out,
        (directory / f"demo-{run}.err").open("wb") as err,
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "notifier", "demo", "--contacts", str(CONTACTS)],
            cwd=directory,
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        yield process
    finally:
        stop(process)


def _links_by_recipient(printed: str) -> dict[str, str]:
    """The acknowledgement link of each e-mail printed whole, by its recipient."""
    links = {}
    for block in printed.split("----- e-mail ")[1:]:
        recipient = re.search(r"^To: (\S+)$", block, re.MULTILINE)
        link = LINK.search(block)
        if recipient and link:
            links[recipient.group(1)] = link.group(0)
    return links


def _token(directory: Path, run: int) -> str:
    match = TOKEN_LINE.search((directory / f"demo-{run}.out").read_text())
    assert match is not None, (directory / f"demo-{run}.out").read_text()
    return match.group(1)


def _status(directory: Path, env: dict[str, str], alert_id: int) -> dict[str, Any]:
    done = _notifier(directory, env, "alert", "status", str(alert_id), "--json")
    assert done.returncode == 0, done.stderr
    status: dict[str, Any] = json.loads(done.stdout)
    return status


async def test_demo_restarted_in_its_directory_prints_the_same_token(tmp_path: Path) -> None:
    """A second start reuses the kept admin token (0600 file), which still works; one token row."""
    port = free_port()
    env = _environment(port)
    for run in (1, 2):
        with _demo(tmp_path, env, run) as process:
            await wait_healthy(process, port, tmp_path / f"demo-{run}.err")
            token = _token(tmp_path, run)
            answer = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/alerts",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
    assert _token(tmp_path, 1) == _token(tmp_path, 2)
    with sqlite3.connect(tmp_path / "notifier.db") as connection:
        assert connection.execute("SELECT count(*) FROM api_token").fetchone() == (1,)
    state = tmp_path / "notifier.db.demo.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert _token(tmp_path, 1) in state.read_text()


async def test_demo_is_answered_by_sms_and_by_link(tmp_path: Path) -> None:
    """`demo reply` and the printed link record answers: `alert status --json` counts them."""
    port = free_port()
    env = _environment(port)
    with _demo(tmp_path, env, 1) as process:
        await wait_healthy(process, port, tmp_path / "demo-1.err")
        out = tmp_path / "demo-1.out"
        assert f"notifier demo reply {OTIENO} 1" in out.read_text()
        raised = _notifier(
            tmp_path, env, "alert", "send", "--stations", "NBO", "--kind", "drill",
            "--title", "Drill", "--message", "Go to the assembly point.", "--json",
        )  # fmt: skip
        assert raised.returncode == 0, raised.stderr
        alert_id = json.loads(raised.stdout)["id"]
        await eventually(lambda: _status(tmp_path, env, alert_id)["status"] == "dispatched")

        safe = _notifier(tmp_path, env, "demo", "reply", OTIENO, "1")
        assert safe.returncode == 0, safe.stderr
        assert "daemon answered with no message" in safe.stdout
        helped = _notifier(tmp_path, env, "demo", "reply", ACHIENG, "2")
        assert helped.returncode == 0, helped.stderr
        status = _status(tmp_path, env, alert_id)
        assert status["responses"] == {"safe": 1, "help": 1, "other": 0}
        assert status["acknowledged"] == 2

        links = _links_by_recipient(out.read_text())
        assert len(links) >= 3
        link = links["wanjiru.kamau@un.example.org"]  # P200001 at NBO, e-mail only
        page = httpx.post(link, data={"response": "safe"}, timeout=10)
        assert page.status_code == 303, page.text
        await eventually(lambda: _status(tmp_path, env, alert_id)["acknowledged"] == 3)
        # The confirmation of the SMS answer reaches Otieno's phone: the console.
        await eventually(lambda: "Recorded: safe." in out.read_text())

        not_sent = _notifier(tmp_path, env, "demo", "reply", MICHAEL, "1")
        assert not_sent.returncode == 0, not_sent.stderr
        assert not_sent.stdout == "daemon answered: There is no open alert to answer.\n"
        assert _status(tmp_path, env, alert_id)["responses"]["safe"] == 2
    log = (tmp_path / "demo-1.err").read_text()
    assert '"event": "email_to_console"' in log
    assert "/ack/***" in log and not LINK.search(log)
