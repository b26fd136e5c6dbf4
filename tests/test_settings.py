"""Configuration: file, environment overrides, and one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.errors import ConfigError
from notifier.settings import load_settings, require_serve_secrets


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notifier.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    """With nothing configured, the embedded SQLite default and loopback HTTP apply."""
    settings = load_settings(None, {})
    assert settings.database.url == "sqlite+aiosqlite:///./notifier.db"
    assert settings.http.port == 8080
    assert settings.email.inbound.enabled is False


def test_file_values_are_read(tmp_path: Path) -> None:
    """Values in the TOML file, nested sections included, replace the defaults."""
    path = _write(tmp_path, "[http]\nport = 9000\n[email.inbound]\nenabled = true\nport = 2626\n")
    settings = load_settings(path, {})
    assert settings.http.port == 9000
    assert settings.email.inbound.enabled is True
    assert settings.email.inbound.port == 2626


def test_environment_overrides_file(tmp_path: Path) -> None:
    """NOTIFIER_SECTION__KEY wins over the file, converted to the key's type."""
    path = _write(tmp_path, "[sms]\nrate_per_second = 5\n")
    env = {"NOTIFIER_SMS__RATE_PER_SECOND": "12.5", "NOTIFIER_EMAIL__INBOUND__ENABLED": "true"}
    settings = load_settings(path, env)
    assert settings.sms.rate_per_second == 12.5
    assert settings.email.inbound.enabled is True


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    """NOTIFIER_CONFIG names the file when --config is not given."""
    path = _write(tmp_path, "[http]\nport = 9100\n")
    assert load_settings(None, {"NOTIFIER_CONFIG": str(path)}).http.port == 9100


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("[http]\nprot = 80\n", {}, "configuration error: http.prot: unknown key"),
        ("[htp]\nport = 80\n", {}, "configuration error: htp: unknown key"),
        (
            '[http]\nport = "eighty"\n',
            {},
            "configuration error: http.port: Input should be a valid integer",
        ),
        (
            "[http]\nport = 70000\n",
            {},
            "configuration error: http.port: Input should be less than or equal to 65535",
        ),
        (
            '[email]\ntls = "ssl"\n',
            {},
            "configuration error: email.tls: Input should be 'starttls', 'implicit' or 'none'",
        ),
        (
            "",
            {"NOTIFIER_HTTP__PORT": "abc"},
            "configuration error: http.port: Input should be a valid integer",
        ),
        (
            "",
            {"NOTIFIER_SMS__TOKEN": "x"},
            "configuration error: sms.token: unknown key [NOTIFIER_SMS__TOKEN]",
        ),
        ("", {"NOTIFIER_PORT": "1"}, "configuration error: NOTIFIER_PORT: not a setting"),
        ("[http\n", {}, "not valid TOML"),
    ],
)
def test_bad_configuration_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    """Each mistake stops loading with a line that names the key (and where it came from)."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env)
    message = str(raised.value)
    assert expected in message
    assert len(message.splitlines()) == 1


def test_wrong_type_message_says_where_from(tmp_path: Path) -> None:
    """A bad value from the environment names the variable, from the file names the file."""
    path = _write(tmp_path, "[http]\nport = 'x'\n")
    with pytest.raises(ConfigError, match=r"\[.*notifier\.toml\]"):
        load_settings(path, {})
    with pytest.raises(ConfigError, match=r"\[NOTIFIER_HTTP__PORT\]"):
        load_settings(None, {"NOTIFIER_HTTP__PORT": "x"})


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A --config file that does not exist is an error naming the file."""
    with pytest.raises(ConfigError, match=r"missing\.toml: no such file"):
        load_settings(tmp_path / "missing.toml", {})


def test_serve_requires_secret_key() -> None:
    """Serving without a secret key stops with the key and the variable to set."""
    settings = load_settings(None, {"NOTIFIER_SMS__BACKEND": "console"})
    with pytest.raises(ConfigError) as raised:
        require_serve_secrets(settings)
    assert str(raised.value).startswith("configuration error: security.secret_key: required")
    assert "NOTIFIER_SECURITY__SECRET_KEY" in str(raised.value)


def test_serve_requires_twilio_credentials_for_twilio_backend() -> None:
    """With the twilio backend, a missing auth token stops the daemon, naming the key."""
    env = {
        "NOTIFIER_SECURITY__SECRET_KEY": "k" * 32,
        "NOTIFIER_SMS__ACCOUNT_SID": "AC" + "0" * 32,
        "NOTIFIER_SMS__FROM_NUMBER": "+15005550006",
    }
    with pytest.raises(ConfigError, match=r"sms\.auth_token: required to serve"):
        require_serve_secrets(load_settings(None, env))
    env["NOTIFIER_SMS__AUTH_TOKEN"] = "secret"
    require_serve_secrets(load_settings(None, env))


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after loading; they are passed down as values."""
    settings = load_settings(None, {})
    with pytest.raises(ValueError, match="frozen"):
        settings.http.port = 1  # type: ignore[misc]


def test_secrets_do_not_show_in_repr() -> None:
    """A secret read from the environment never appears when settings are printed or logged."""
    settings = load_settings(None, {"NOTIFIER_SMS__AUTH_TOKEN": "hunter2-token"})
    assert "hunter2-token" not in repr(settings)
    assert settings.sms.auth_token.get_secret_value() == "hunter2-token"
