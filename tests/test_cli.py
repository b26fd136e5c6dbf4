"""The command line: exit statuses, messages, and the files it reads, run as a user would."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.secret_keys import new_secret_key
from notifier.settings import load_settings, require_serve_secrets

WriteFile = Callable[..., Path]
CONTACTS = Path(__file__).parent.parent / "contacts"
HEADER = "person_id,name,email,phone,station,language,groups\n"


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration file pointing at a fresh SQLite database, given by `--config`."""
    config = tmp_path / "notifier.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n')
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    return config


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_setup_flow(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """db upgrade, stations import, roster import and roster list work in turn, with --config."""
    config = str(configured)
    assert _run(capsys, "db", "upgrade", "--config", config)[1].startswith(
        "database schema upgraded"
    )
    assert _run(capsys, "db", "upgrade", "--config", config)[1].startswith(
        "database schema is current"
    )
    status, out, _ = _run(
        capsys, "stations", "import", "--config", config, str(CONTACTS / "stations.csv")
    )
    assert status == 0
    assert out.startswith("stations: 22 added")
    roster = str(CONTACTS / "roster-africa-middle-east.csv")
    status, out, _ = _run(capsys, "roster", "import", "--config", config, roster)
    assert (status, out.strip()) == (0, "roster: 40 added, 0 changed, 0 deactivated, 0 unchanged")
    status, out, _ = _run(
        capsys, "roster", "list", "--config", config, "--station", "nbo", "--json"
    )
    listed = json.loads(out)
    assert status == 0
    assert {person["station"] for person in listed} == {"NBO"}
    assert all(person["phone"] is None or person["phone"].startswith("+254") for person in listed)


def test_bad_roster_exits_1_and_lists_rows(
    configured: Path, write_file: WriteFile, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file with bad rows prints FILE:LINE: column: reason for each, exits 1, writes nothing."""
    config = str(configured)
    _run(capsys, "db", "upgrade", "--config", config)
    _run(capsys, "stations", "import", "--config", config, str(CONTACTS / "stations.csv"))
    path = write_file(
        "staff.csv",
        HEADER
        + "P1,Good Person,good@example.org,,NBO,en,\nP2,Bad,bad@,,NBO,en,\nP3,Bad,,,XYZ,en,\n",
    )
    status, out, err = _run(capsys, "roster", "import", "--config", config, str(path))
    assert status == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("staff.csv:3: email: 'bad@'")
    assert lines[1].startswith("staff.csv:4: station: unknown station 'XYZ'")
    assert out == ""
    _, listing, _ = _run(capsys, "roster", "list", "--config", config)
    assert listing.strip().endswith("0 people")


def test_dry_run_prints_the_plan(
    configured: Path, write_file: WriteFile, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run prints one line per person it would add and says nothing was written."""
    config = str(configured)
    _run(capsys, "db", "upgrade", "--config", config)
    _run(capsys, "stations", "import", "--config", config, str(CONTACTS / "stations.csv"))
    path = write_file("staff.csv", HEADER + "P1,Amina Yusuf,amina@example.org,,NBO,en,\n")
    status, out, _ = _run(capsys, "roster", "import", "--config", config, "--dry-run", str(path))
    assert status == 0
    assert out.splitlines() == [
        "+ P1  Amina Yusuf (NBO)",
        "roster (dry run, nothing written): would be 1 added, 0 changed, 0 deactivated, 0 unchanged",
    ]
    _, listing, _ = _run(capsys, "roster", "list", "--config", config)
    assert listing.strip().endswith("0 people")


def test_commands_refuse_a_database_never_upgraded(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before `db upgrade`, a command exits 1 and says what to run."""
    status, _, err = _run(capsys, "roster", "list", "--config", str(configured))
    assert status == 1
    assert "run `notifier db upgrade` first" in err


def test_token_create_prints_the_token_once(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """token create prints the token on stdout, a reminder on stderr; a bad role is a usage error."""
    config = str(configured)
    _run(capsys, "db", "upgrade", "--config", config)
    _run(capsys, "stations", "import", "--config", config, str(CONTACTS / "stations.csv"))
    status, out, err = _run(
        capsys,
        "token",
        "create",
        "--config",
        config,
        "--name",
        "nbo",
        "--role",
        "officer",
        "--stations",
        "NBO,gva",
    )
    assert status == 0
    assert out.startswith("ntf_")
    assert "shown only once" in err
    with pytest.raises(SystemExit) as usage:
        main(["token", "create", "--config", config, "--name", "x", "--role", "root"])
    assert usage.value.code == 2


def test_bad_configuration_exits_1_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown key in the configuration stops the command with one line naming it."""
    config = tmp_path / "bad.toml"
    config.write_text("[database]\nurl = 'sqlite+aiosqlite:///x.db'\npool = 3\n")
    status, _, err = _run(capsys, "roster", "list", "--config", str(config))
    assert status == 1
    assert err.strip() == f"configuration error: database.pool: unknown key [{config}]"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command or a missing argument is a usage error."""
    with pytest.raises(SystemExit) as raised:
        main(["roster", "import"])
    assert raised.value.code == 2
    assert main([]) == 2


def test_secret_prints_a_new_key_that_serve_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`secret` prints a fresh random key, reading no configuration; serve takes such keys."""
    monkeypatch.setenv("NOTIFIER_CONFIG", str(tmp_path / "not-written-yet.toml"))
    status, out, err = _run(capsys, "secret")
    second = _run(capsys, "secret", "--config", str(tmp_path / "nor-this.toml"))[1]
    assert status == 0
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\n", out)
    assert second != out
    assert "NOTIFIER_SECURITY__SECRET_KEY" in err
    for key in [out.strip(), *(new_secret_key() for _ in range(2000))]:
        env = {"NOTIFIER_SECURITY__SECRET_KEY": key, "NOTIFIER_SMS__BACKEND": "console"}
        require_serve_secrets(load_settings(None, env))


def test_serve_refuses_a_weak_secret_key(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve with a key of one repeated character exits 1 with one line saying what to do."""
    monkeypatch.setenv("NOTIFIER_SECURITY__SECRET_KEY", "x" * 40)
    monkeypatch.setenv("NOTIFIER_SMS__BACKEND", "console")
    status, out, err = _run(capsys, "serve", "--config", str(configured))
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        "configuration error: security.secret_key: too weak (1 different character; "
        "8 or more needed); make one with `notifier secret` and set "
        "NOTIFIER_SECURITY__SECRET_KEY"
    ]


def test_token_list_and_revoke(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """token list shows each token and its revocation; revoke says so, twice, and 1 if unknown."""
    config = str(configured)
    _run(capsys, "db", "upgrade", "--config", config)
    _run(capsys, "stations", "import", "--config", config, str(CONTACTS / "stations.csv"))
    for name, role, stations in (("ops", "admin", ""), ("nbo", "officer", "NBO,GVA")):
        create = ["token", "create", "--config", config, "--name", name, "--role", role]
        assert _run(capsys, *create, "--stations", stations)[0] == 0
    status, out, err = _run(capsys, "token", "revoke", "--config", config, "nbo")
    assert (status, err) == (0, "")
    assert "'nbo' revoked" in out
    status, out, _ = _run(capsys, "token", "revoke", "--config", config, "nbo")
    assert status == 0
    assert "'nbo' is already revoked (since " in out
    status, out, err = _run(capsys, "token", "revoke", "--config", config, "nobody")
    assert (status, out) == (1, "")
    assert "no token is named 'nobody'" in err
    status, out, _ = _run(capsys, "token", "list", "--config", config)
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["name", "role", "stations", "created", "last", "used", "revoked"]
    assert lines[1].split()[:3] == ["nbo", "officer", "GVA,NBO"]
    assert lines[1].endswith(" UTC") and "never" in lines[1]
    assert lines[2].split()[:3] == ["ops", "admin", "all"] and lines[2].endswith("never")
    assert lines[-1] == "2 tokens, 1 revoked"
    status, out, _ = _run(capsys, "token", "list", "--config", config, "--json")
    listed = {token["name"]: token for token in json.loads(out)}
    assert set(listed["nbo"]) == {
        "name",
        "role",
        "stations",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    revoked = datetime.fromisoformat(listed["nbo"]["revoked_at"])
    assert revoked.utcoffset() == timedelta(0)
    assert listed["nbo"]["created_at"] <= listed["nbo"]["revoked_at"]
    assert (listed["ops"]["revoked_at"], listed["ops"]["last_used_at"]) == (None, None)
    assert listed["nbo"]["stations"] == ["GVA", "NBO"]


def test_token_revoke_is_audited(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A revocation leaves one audit entry naming the token and who revoked it; a repeat none."""
    config = str(configured)
    _run(capsys, "db", "upgrade", "--config", config)
    _run(capsys, "token", "create", "--config", config, "--name", "v", "--role", "viewer")
    _run(capsys, "token", "revoke", "--config", config, "v")
    _run(capsys, "token", "revoke", "--config", config, "v")
    database = configured.parent / "cli.db"
    with sqlite3.connect(database) as connection:
        entries = connection.execute(
            "SELECT actor, target FROM audit_log WHERE action = 'token.revoke'"
        ).fetchall()
    assert len(entries) == 1
    assert entries[0][0].startswith("cli") and entries[0][1] == "v"


def test_roster_list_shows_channels(
    configured: Path, write_file: WriteFile, capsys: pytest.CaptureFixture[str]
) -> None:
    """`roster list` shows each person's channels: a list in JSON, empty for the default."""
    config = str(configured)
    _run(capsys, "db", "upgrade", "--config", config)
    _run(capsys, "stations", "import", "--config", config, str(CONTACTS / "stations.csv"))
    path = write_file(
        "staff.csv",
        HEADER.strip()
        + ",channels\n"
        + 'P1,Amina Yusuf,amina@example.org,+254722000111,NBO,en,,"WhatsApp,email"\n'
        + "P2,Baraka Otieno,baraka@example.org,,NBO,en,,\n",
    )
    assert _run(capsys, "roster", "import", "--config", config, str(path))[0] == 0
    _, out, _ = _run(capsys, "roster", "list", "--config", config, "--json")
    assert {person["person_id"]: person["channels"] for person in json.loads(out)} == {
        "P1": ["whatsapp", "email"],
        "P2": [],
    }
    _, table, _ = _run(capsys, "roster", "list", "--config", config)
    header, first, *_ = table.splitlines()
    assert header.split()[6] == "channels"
    assert first.split()[7] == "whatsapp,email"


def test_a_schema_newer_than_this_version_is_refused_and_left_alone(
    configured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database a newer version upgraded: `db upgrade` and the other commands exit 1 with
    what happened and what to do, no traceback, and the database keeps its revision."""
    config = str(configured)
    _run(capsys, "db", "upgrade", "--config", config)
    with sqlite3.connect(tmp_path / "cli.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099_future'")
    upgrade = _run(capsys, "db", "upgrade", "--config", config)
    listing = _run(capsys, "roster", "list", "--config", config)
    with sqlite3.connect(tmp_path / "cli.db") as connection:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    for status, out, err in (upgrade, listing):
        assert (status, out) == (1, "")
        assert "database schema is at revision 0099_future, which this version does not know" in err
        assert "a newer version of the notifier upgraded it" in err
        assert "Traceback" not in err
    assert revision == ("0099_future",)
