"""The operations files: compose.yaml and the systemd unit's files set real settings."""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import pytest

from notifier.settings import Settings, load_settings, require_serve_secrets

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "compose.yaml"
COMPOSE_ENV = ROOT / "deploy" / "compose.env.example"
UNIT = ROOT / "deploy" / "notifier.service"
UNIT_CONFIG = ROOT / "deploy" / "notifier.toml.example"
UNIT_ENV = ROOT / "deploy" / "notifier.env.example"

STRONG_KEY = "Zk3v-Qp9xW_m2LrT8bYc0NhJ5sGd1FaE7uKo4Ri6yXe"
REPLICAS = ("notifier-1", "notifier-2")
NOTIFIER_SERVICES = ("db-upgrade", *REPLICAS)
# What an operator fills in beyond the examples: a Twilio account and a sender.
TWILIO = {
    "NOTIFIER_SMS__ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
    "NOTIFIER_SMS__AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "NOTIFIER_SMS__FROM_NUMBER": "+15005550006",
}

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")


def _env_file(path: Path) -> dict[str, str]:
    """NAME=value lines, as Compose reads `.env` and systemd an EnvironmentFile."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def _interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (empty counts as unset)."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = values.get(name, "")
        if operator == ":?" and not value:
            raise LookupError(f"{name}: {argument}")
        if operator == ":-" and not value:
            return argument
        return value

    return _REFERENCE.sub(one, text)


def _compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _environment(service: str, values: dict[str, str]) -> dict[str, str]:
    """The service's environment as Compose would give it, from these `.env` values."""
    environment = _compose()["services"][service]["environment"]
    assert isinstance(environment, dict)
    return {name: _interpolate(str(value), values) for name, value in environment.items()}


def _example_values(**overrides: str) -> dict[str, str]:
    return {**_env_file(COMPOSE_ENV), "NOTIFIER_SECURITY__SECRET_KEY": STRONG_KEY, **overrides}


def test_compose_has_the_database_the_upgrade_and_two_replicas() -> None:
    """PostgreSQL with a health check and a volume; replicas wait for the one-shot upgrade."""
    services = _compose()["services"]
    assert set(services) == {"db", *NOTIFIER_SERVICES}
    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    upgrade = services["db-upgrade"]
    assert upgrade["command"] == ["db", "upgrade"]
    assert upgrade["depends_on"]["db"]["condition"] == "service_healthy"
    for name in REPLICAS:
        depends = services[name]["depends_on"]
        assert depends["db-upgrade"]["condition"] == "service_completed_successfully"
        assert depends["db"]["condition"] == "service_healthy"
        assert services[name]["build"] == upgrade["build"]
    host_ports = [port.rsplit(":", 2)[1] for name in REPLICAS for port in services[name]["ports"]]
    assert len(host_ports) == len(set(host_ports)), "each replica needs ports of its own"


@pytest.mark.parametrize("service", NOTIFIER_SERVICES)
def test_compose_environment_loads_as_settings(service: str) -> None:
    """Every NOTIFIER_* variable of the service, filled from the example, is a valid setting."""
    environment = _environment(service, _example_values(**TWILIO))
    assert all(name.startswith("NOTIFIER_") for name in environment)
    settings = load_settings(None, environment)
    require_serve_secrets(settings)
    assert settings.database.url.startswith("postgresql+asyncpg://notifier:")
    assert settings.email.inbound.enabled is True
    assert settings.email.inbound.host == "0.0.0.0"


def test_compose_defaults_load_as_settings() -> None:
    """With only the required values given, every `${VAR:-default}` is a valid setting."""
    required = {
        "POSTGRES_PASSWORD": "secret",
        "NOTIFIER_HTTP__PUBLIC_URL": "https://notify.example.org",
        "NOTIFIER_SECURITY__SECRET_KEY": STRONG_KEY,
    }
    settings = load_settings(None, _environment("notifier-1", required))
    assert settings.sms.backend == Settings().sms.backend
    assert settings.email.port == Settings().email.port


def test_compose_refuses_to_start_without_the_secret_key() -> None:
    """The secret key is marked required, so an empty one stops Compose, not the daemon."""
    with pytest.raises(LookupError, match="NOTIFIER_SECURITY__SECRET_KEY"):
        _environment("notifier-1", _example_values(NOTIFIER_SECURITY__SECRET_KEY=""))


def test_compose_env_example_names_every_variable_compose_reads() -> None:
    """The example `.env` and compose.yaml name the same variables: none set in vain."""
    read = set(_REFERENCE.findall(COMPOSE.read_text(encoding="utf-8")))
    assert {name for name, _, _ in read} == set(_env_file(COMPOSE_ENV))


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    return unit


def test_unit_migrates_then_serves_and_stops_within_its_timeout() -> None:
    """ExecStartPre upgrades, ExecStart serves, and SIGTERM's timeout exceeds the drain's grace."""
    service = _unit()["Service"]
    assert service["ExecStartPre"].endswith("/notifier db upgrade")
    assert service["ExecStart"].endswith("/notifier serve")
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure"
    timeout = float(service["TimeoutStopSec"].removesuffix("s"))
    settings = load_settings(UNIT_CONFIG, {})
    assert timeout > settings.http.shutdown_grace_seconds
    assert service["ProtectSystem"] == "strict"
    database_directory = settings.database.url.removeprefix("sqlite+aiosqlite:///").rsplit("/", 1)
    assert service["ReadWritePaths"] == database_directory[0]
    assert service["WorkingDirectory"] == database_directory[0]


def test_unit_config_and_secrets_serve_once_twilio_is_filled_in() -> None:
    """The unit's example file and secrets load, and serve needs only the Twilio account more."""
    service = _unit()["Service"]
    assert service["Environment"] == "NOTIFIER_CONFIG=/etc/notifier/notifier.toml"
    secrets = {**_env_file(UNIT_ENV), "NOTIFIER_SECURITY__SECRET_KEY": STRONG_KEY}
    environment = {**secrets, **TWILIO, "NOTIFIER_CONFIG": str(UNIT_CONFIG)}
    require_serve_secrets(load_settings(None, environment))
