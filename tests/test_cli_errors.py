"""Errors a person can act on, and the version, from the command line run as a user would."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.cli import main

WriteFile = Callable[..., Path]
CONTACTS = Path(__file__).parent.parent / "contacts"


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration file pointing at a fresh SQLite database, given by `--config`."""
    config = tmp_path / "notifier.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n')
    for name in os.environ:
        if name.startswith("NOTIFIER_"):
            monkeypatch.delenv(name)
    return config


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _with_stations(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "db", "upgrade", "--config", str(config))[0] == 0
    stations = str(CONTACTS / "stations.csv")
    assert _run(capsys, "stations", "import", "--config", str(config), stations)[0] == 0


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier --version` prints the installed package's version and exits 0."""
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"notifier {importlib.metadata.version('notifier')}\n"


def test_serve_names_every_missing_secret_at_once(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twilio chosen with no credentials and no key: one line per missing setting, all at once."""
    monkeypatch.setenv("NOTIFIER_EMAIL__USERNAME", "ens")
    status, out, err = _run(capsys, "serve", "--config", str(configured))
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        "configuration error: security.secret_key: required to serve; make one with "
        "`notifier secret` and set NOTIFIER_SECURITY__SECRET_KEY",
        "configuration error: sms.account_sid: required to serve; set NOTIFIER_SMS__ACCOUNT_SID",
        "configuration error: sms.auth_token: required to serve; set NOTIFIER_SMS__AUTH_TOKEN",
        "configuration error: sms.from_number: required to serve; set NOTIFIER_SMS__FROM_NUMBER",
        "configuration error: email.password: required to serve; set NOTIFIER_EMAIL__PASSWORD",
    ]


def test_closed_pipe_ends_quietly(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier roster list | head` with the reader gone: exit 0, nothing on standard error."""
    _with_stations(configured, capsys)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has stopped before the first line is written
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOTIFIER_")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "notifier", "roster", "list", "--config", str(configured)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


def test_json_roster_may_leave_out_optional_keys(
    configured: Path, write_file: WriteFile, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON roster's objects may omit email or phone (one is there), language and groups."""
    _with_stations(configured, capsys)
    people = [
        {"person_id": "P1", "name": "Amina Yusuf", "email": "amina@example.org", "station": "NBO"},
        {"person_id": "P2", "name": "Jean Dupont", "phone": "0722 000 111", "station": "NBO"},
    ]
    path = write_file("staff.json", json.dumps(people, indent=2))
    status, out, err = _run(capsys, "roster", "import", "--config", str(configured), str(path))
    assert (status, err) == (0, "")
    assert out.strip() == "roster: 2 added, 0 changed, 0 deactivated, 0 unchanged"
    _, listing, _ = _run(capsys, "roster", "list", "--config", str(configured), "--json")
    listed = {person["person_id"]: person for person in json.loads(listing)}
    assert (listed["P1"]["phone"], listed["P1"]["language"]) == (None, "en")
    assert (listed["P2"]["phone"], listed["P2"]["email"]) == ("+254722000111", None)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '[\n  {"person_id": "P1", "name": "A" "station": "NBO"}\n]\n',
            "staff.json:2: file: not valid JSON at column 35: Expecting ',' delimiter",
        ),
        (
            '[\n  {"person_id": "P1", "name": "A", "email": "a@example.org", "station": "NBO"}\n'
            '  {"person_id": "P2", "name": "B", "email": "b@example.org", "station": "NBO"}\n]\n',
            "staff.json:3: file: not valid JSON at column 3: expected ',' or ']' after an object",
        ),
        (
            '[\n  {"person_id": "P1", "name": "A", "email": "a@example.org", "station": "NBO"},\n]',
            "staff.json:2: file: not valid JSON at column 79: a comma before the closing ']'",
        ),
    ],
)
def test_json_syntax_error_names_line_and_column(
    configured: Path,
    write_file: WriteFile,
    capsys: pytest.CaptureFixture[str],
    content: str,
    expected: str,
) -> None:
    """A JSON syntax error is reported as FILE:LINE with its column; nothing is written."""
    _with_stations(configured, capsys)
    path = write_file("staff.json", content)
    status, out, err = _run(capsys, "roster", "import", "--config", str(configured), str(path))
    assert (status, out, err.strip()) == (1, "", expected)
    _, listing, _ = _run(capsys, "roster", "list", "--config", str(configured))
    assert listing.strip().endswith("0 people")
