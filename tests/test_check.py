"""`notifier check` run as an administrator would, against a real database, SMTP and Twilio fakes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from notifier.secret_keys import new_secret_key
from notifier.store import schema
from notifier.store.engine import Database
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-token-0123456789"
SMTP_LOGIN = ("ens", "smtp-password-0123")


async def _check(tmp_path: Path, config: str = "", **env: str) -> tuple[int, list[str]]:
    """Run `notifier check` in its own process (as an administrator would, and so that its
    logging set-up stays there) with `config` appended to a configuration of a fresh database."""
    path = tmp_path / "notifier.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "check.db"}"\n'
        f'[security]\nsecret_key = "{new_secret_key()}"\n{config}'
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "check",
        "--config",
        str(path),
        env=environment | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode().splitlines()


async def _upgraded(tmp_path: Path) -> None:
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'check.db'}") as database:
        await schema.upgrade(database)


def _line(lines: list[str], name: str) -> str:
    """The words of the line of check `name`, spaces collapsed."""
    [line] = [line for line in lines if line.startswith(name + " ")]
    return " ".join(line.split())


CONSOLE = '[email]\nbackend = "console"\n[sms]\nbackend = "console"\n'


async def test_everything_ok_with_console_backends(tmp_path: Path) -> None:
    """On an upgraded database with console backends, four lines, each ok, and exit 0."""
    await _upgraded(tmp_path)
    status, lines = await _check(tmp_path, CONSOLE)
    assert status == 0
    assert len(lines) == 4
    assert _line(lines, "configuration") == "configuration ok"
    assert _line(lines, "database").startswith(f"database ok (schema {schema.head_revision()})")
    assert _line(lines, "email") == "email (console) console (nothing sent)"
    assert _line(lines, "sms") == "sms (console) console (nothing sent)"


async def test_database_not_upgraded_fails(tmp_path: Path) -> None:
    """A database never upgraded is named with what to run; the other checks still run."""
    status, lines = await _check(tmp_path, CONSOLE)
    assert status == 1
    assert "FAILED" in _line(lines, "database")
    assert "run `notifier db upgrade` first" in _line(lines, "database")
    assert _line(lines, "sms") == "sms (console) console (nothing sent)"


async def test_missing_secrets_fail_the_configuration_line(tmp_path: Path) -> None:
    """Twilio chosen without credentials: the configuration line names each missing key."""
    await _upgraded(tmp_path)
    status, lines = await _check(tmp_path, '[email]\nbackend = "console"\n')
    configuration = _line(lines, "configuration")
    assert status == 1
    assert configuration.startswith("configuration FAILED: ")
    for key in ("sms.account_sid", "sms.auth_token", "sms.from_number"):
        assert key in configuration


@pytest.mark.parametrize(("password", "works"), [(SMTP_LOGIN[1], True), ("wrong", False)])
async def test_smtp_login(
    tmp_path: Path,
    password: str,
    works: bool,
) -> None:
    """The SMTP check connects, starts TLS and logs in: ok, or the server's refusal."""
    await _upgraded(tmp_path)
    async with FakeSmtpServer(starttls=True, auth=SMTP_LOGIN) as smtp:
        assert smtp.ca is not None
        authority = tmp_path / "ca.pem"
        smtp.ca.cert_pem.write_to_path(str(authority))
        config = (
            f'[email]\nhost = "127.0.0.1"\nport = {smtp.port}\ntls = "starttls"\n'
            f'username = "{SMTP_LOGIN[0]}"\npassword = "{password}"\n[sms]\nbackend = "console"\n'
        )
        # The CA as the system's trust store, as an operator's private CA would be.
        status, lines = await _check(tmp_path, config, SSL_CERT_FILE=str(authority))
        received = smtp.received
    email = _line(lines, "email")
    assert received == 0
    if works:
        assert (status, email) == (0, f"email (smtp) ok (127.0.0.1:{smtp.port})")
    else:
        assert status == 1
        assert email.startswith(f"email (smtp) FAILED: 127.0.0.1:{smtp.port}: authentication")
        assert "535" in email


async def test_smtp_unreachable_fails(tmp_path: Path) -> None:
    """An SMTP server that does not listen fails the e-mail line, naming host and port."""
    await _upgraded(tmp_path)
    async with FakeSmtpServer() as smtp:
        port = smtp.port
    config = (
        f'[email]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n[sms]\nbackend = "console"\n'
    )
    status, lines = await _check(tmp_path, config)
    assert status == 1
    assert _line(lines, "email").startswith(f"email (smtp) FAILED: 127.0.0.1:{port}: ")


@pytest.mark.parametrize(("token", "works"), [(AUTH_TOKEN, True), ("wrong-token", False)])
async def test_twilio_credentials(tmp_path: Path, token: str, works: bool) -> None:
    """The Twilio check reads the account once with the credentials: ok, or their refusal."""
    await _upgraded(tmp_path)
    async with FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        config = (
            f'[email]\nbackend = "console"\n[sms]\naccount_sid = "{ACCOUNT_SID}"\n'
            f'auth_token = "{token}"\nfrom_number = "+15005550006"\n'
            f'api_base_url = "{twilio.base_url}"\n'
        )
        status, lines = await _check(tmp_path, config)
        base_url, fetches, sent = twilio.base_url, twilio.account_fetches, len(twilio.messages)
    sms = _line(lines, "sms")
    assert (fetches, sent) == (1, 0)
    if works:
        assert (status, sms) == (0, f"sms (twilio) ok ({base_url})")
    else:
        assert status == 1
        assert sms == f"sms (twilio) FAILED: {base_url}: twilio rejected the credentials"
