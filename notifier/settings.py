"""Configuration: a TOML file overlaid by `NOTIFIER_SECTION__KEY` variables, read once, frozen."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from notifier.cap.message import CapCertainty, CapSeverity, CapStatus, CapUrgency
from notifier.errors import ConfigError
from notifier.secret_keys import weakness

_STATION_CODE = re.compile(r"[A-Z0-9]{2,8}")  # as `alert_request.STATION_CODE`
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
ENV_PREFIX = "NOTIFIER_"
ENV_CONFIG_FILE = "NOTIFIER_CONFIG"
MIN_SECRET_KEY_LENGTH = 16


class Section(BaseModel):
    """A frozen group of settings that refuses keys it does not know, and inf and nan.

    Every number has an upper bound too: a duration of 1e300 seconds would pass `gt=0` and
    then overflow wherever it is turned into a time.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///./notifier.db"
    # PostgreSQL only: at least the eight a replica holds for good, and four to work with.
    pool_size: int = Field(default=16, ge=12, le=1000)


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    shutdown_grace_seconds: float = Field(default=10.0, gt=0, le=3600)
    max_body_bytes: int = Field(default=65_536, ge=1024, le=16_777_216)
    max_form_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    keep_alive_seconds: float = Field(default=5.0, gt=0, le=3600)
    body_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_connections: int = Field(default=512, ge=8, le=100_000)

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, url: str) -> str:
        return checked_public_url(url)


class SecuritySettings(Section):
    secret_key: SecretStr = SecretStr("")
    ack_token_days: float = Field(default=7, gt=0, le=365)


class InboundEmailSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=104_857_600)
    max_mime_parts: int = Field(default=100, ge=1, le=10_000)
    parse_concurrency: int = Field(default=2, ge=1, le=64)


class EmailSettings(Section):
    backend: Literal["smtp", "console"] = "smtp"
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    from_address: str = "ens@example.org"
    reply_domain: str = "reply.example.org"
    pool_size: int = Field(default=8, ge=1, le=256)
    rate_per_second: float = Field(default=50.0, gt=0, le=100_000)
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    inbound: InboundEmailSettings = InboundEmailSettings()


class SmsSettings(Section):
    backend: Literal["twilio", "console"] = "twilio"
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base_url: str = "https://api.twilio.com"
    rate_per_second: float = Field(default=10.0, gt=0, le=100_000)
    concurrency: int = Field(default=16, ge=1, le=1024)
    timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    max_segments: int = Field(default=4, ge=1, le=10)
    whatsapp_from: str = ""  # empty: no WhatsApp; people who chose it get SMS
    whatsapp_rate_per_second: float = Field(default=20.0, gt=0, le=100_000)

    @field_validator("whatsapp_from")
    @classmethod
    def _whatsapp_from_is_e164(cls, number: str) -> str:
        number = number.removeprefix("whatsapp:").strip()
        if number and not _E164.fullmatch(number):
            raise ValueError(f"{number!r} is not a number in E.164 form, such as +14155238886")
        return number


class VoiceSettings(Section):
    """Voice calls through Twilio's Calls API, with the account of `[sms]`: each speaks the
    alert and asks for a key, 1 safe or 2 help. Empty `from_number`: no calls."""

    from_number: str = ""
    rate_per_second: float = Field(default=1.0, gt=0, le=1000)
    concurrency: int = Field(default=8, ge=1, le=1024)
    ring_seconds: int = Field(default=30, ge=5, le=600)
    machine_detection: bool = True
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_seconds: float = Field(default=120.0, gt=0, le=86_400)

    @field_validator("from_number")
    @classmethod
    def _from_number_is_e164(cls, number: str) -> str:
        number = number.strip()
        if number and not _E164.fullmatch(number):
            raise ValueError(f"{number!r} is not a number in E.164 form, such as +15005550006")
        return number


class DispatchSettings(Section):
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    backoff_max_seconds: float = Field(default=300.0, gt=0, le=86_400)
    lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    claim_batch: int = Field(default=200, ge=1, le=5000)
    materialise_batch: int = Field(default=1000, ge=1, le=20000)
    poll_interval_seconds: float = Field(default=0.5, gt=0, le=3600)


class MessagesSettings(Section):
    templates_dir: str = ""  # empty: the templates shipped in the package


class EscalationSettings(Section):
    ack_timeout_minutes: float = Field(default=15, gt=0, le=10_080)
    focal_point_group: str = "security-focal-points"
    max_rounds: int = Field(default=2, ge=0, le=10)
    voice_after_rounds: int = Field(default=0, ge=0, le=10)
    """The round from which those who have not answered are also called (with
    `voice.from_number`); 0: the last round, `max_rounds`."""


class AlertsSettings(Section):
    auto_close_hours: float = Field(default=72, ge=1, le=8760)


class DrillsSettings(Section):
    misfire_grace_minutes: float = Field(default=60, ge=1, le=10_080)


class ReadinessSettings(Section):
    """The thresholds of a station's readiness level (DESIGN.md, "Readiness: the maturity
    scale"): levels 2 to 5 need every criterion of the levels below."""

    window_months: int = Field(default=12, ge=1, le=60)
    quarterly_gap_days: int = Field(default=92, ge=1, le=366)
    reachable_percent: float = Field(default=80, ge=0, le=100)
    monthly_missed_max: int = Field(default=1, ge=0, le=12)
    last_drill_percent: float = Field(default=70, ge=0, le=100)
    advanced_percent: float = Field(default=90, ge=0, le=100)
    advanced_p90_minutes: float = Field(default=15, gt=0, le=1440)
    reachable_both_percent: float = Field(default=95, ge=0, le=100)
    sustained_drills: int = Field(default=3, ge=2, le=24)


MAX_PRICE = 100_000
"""The most one SMS segment or one e-mail may cost, in the configured currency."""
Price = Annotated[Decimal, Field(ge=0, le=MAX_PRICE)]


class CostsSettings(Section):
    """What messages cost, in `currency`: per SMS segment (by destination country) and e-mail."""

    currency: str = "USD"
    sms_segment_price: Price = Decimal(0)
    sms_segment_prices: dict[str, Price] = Field(default_factory=dict)
    email_price: Price = Decimal(0)
    whatsapp_price: Price = Decimal(0)
    voice_minute_price: Price = Decimal(0)

    @field_validator("currency")
    @classmethod
    def _currency_is_iso_4217(cls, currency: str) -> str:
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()) or (
            not currency.isupper()
        ):
            raise ValueError(
                f"{currency!r} is not an ISO 4217 currency code (three capital letters, "
                "e.g. USD, EUR, CHF, KES)"
            )
        return currency

    @field_validator("sms_segment_prices")
    @classmethod
    def _countries_are_known(cls, prices: dict[str, Decimal]) -> dict[str, Decimal]:
        known: dict[str, Decimal] = {}
        for code, price in prices.items():
            region = code.upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(
                    f"{code!r} is not an ISO 3166-1 alpha-2 country code with phone numbers "
                    "(e.g. KE, CH, US)"
                )
            if region in known:
                raise ValueError(f"{code!r}: {region} is given twice")
            known[region] = price
        return known


class ConsoleSettings(Section):
    session_minutes: int = Field(default=480, ge=5, le=10_080)
    max_form_bytes: int = Field(default=262_144, ge=16_384, le=4_194_304)


CAP_NAME = re.compile(r"[^\s,<&]+")
"""A CAP sender or identifier: no white space, commas, '<' or '&' (CAP 1.2, 3.2.1)."""


class CapRule(Section):
    """What to do at once with a CAP message from outside, instead of making a draft.

    A rule matches when the message's status is one of `status`, and one of its info blocks
    has one of `urgency`, one of `severity` and one of `certainty`; a criterion left empty
    matches anything. The first rule that matches decides: `send` raises the alert at once,
    `ignore` writes nothing.
    """

    status: list[CapStatus] = Field(default_factory=list)
    urgency: list[CapUrgency] = Field(default_factory=list)
    severity: list[CapSeverity] = Field(default_factory=list)
    certainty: list[CapCertainty] = Field(default_factory=list)
    action: Literal["send", "ignore"]

    @field_validator("status", "urgency", "severity", "certainty", mode="before")
    @classmethod
    def _one_word_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class CapFeed(Section):
    """A CAP feed polled by one replica: an Atom or RSS feed whose entries link to (or hold)
    CAP documents, or a CAP document itself. Each message it brings is imported once, as
    `POST /api/v1/cap` would (drafts, `cap.rules`), for `stations` only if given (else any)."""

    url: str
    every_seconds: float = Field(default=300.0, ge=1, le=86_400)
    stations: list[str] = Field(default_factory=list, max_length=10_000)

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url

    @field_validator("stations")
    @classmethod
    def _stations_are_codes(cls, codes: list[str]) -> list[str]:
        upper = [code.strip().upper() for code in codes if code.strip()]
        bad = [code for code in upper if not _STATION_CODE.fullmatch(code)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a station code")
        return upper


class CapSettings(Section):
    """The Common Alerting Protocol: the sender of the alerts written as CAP, and the table of
    geocodes to stations that CAP messages from outside are matched through.

    `geocodes` maps a geocode's valueName, then its value, to station codes (in TOML a table
    per valueName; from the environment, codes separated by commas). Both are compared without
    regard to case, as the environment gives its keys in lower case. `rules` (`[[cap.rules]]`,
    from the file only) send or ignore some messages at once instead of making drafts.
    `feeds` (`[[cap.feeds]]`, from the file only) are polled for messages to import.
    """

    sender: str = ""  # empty: "notifier@" + email.reply_domain
    geocodes: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    rules: list[CapRule] = Field(default_factory=list, max_length=100)
    feeds: list[CapFeed] = Field(default_factory=list, max_length=100)

    @field_validator("sender")
    @classmethod
    def _sender_is_a_cap_name(cls, sender: str) -> str:
        if sender and not CAP_NAME.fullmatch(sender):
            raise ValueError("must hold no spaces, commas, '<' or '&' (CAP 1.2)")
        return sender

    @field_validator("feeds")
    @classmethod
    def _each_feed_once(cls, feeds: list[CapFeed]) -> list[CapFeed]:
        urls = [feed.url for feed in feeds]
        twice = next((url for url in urls if urls.count(url) > 1), None)
        if twice is not None:
            raise ValueError(f"{twice} is listed twice")
        return feeds

    @field_validator("geocodes", mode="before")
    @classmethod
    def _codes_may_be_one_text(cls, table: object) -> object:
        if not isinstance(table, dict):
            return table
        return {
            name: (
                {
                    value: codes.split(",") if isinstance(codes, str) else codes
                    for value, codes in values.items()
                }
                if isinstance(values, dict)
                else values
            )
            for name, values in table.items()
        }

    @field_validator("geocodes")
    @classmethod
    def _codes_are_station_codes(
        cls, table: dict[str, dict[str, list[str]]]
    ) -> dict[str, dict[str, list[str]]]:
        checked: dict[str, dict[str, list[str]]] = {}
        for name, values in table.items():
            checked[name] = {}
            for value, codes in values.items():
                upper = [code.strip().upper() for code in codes if code.strip()]
                bad = [code for code in upper if not _STATION_CODE.fullmatch(code)]
                if bad:
                    raise ValueError(f"{name}.{value}: {bad[0]!r} is not a station code")
                checked[name][value] = upper
        return checked


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(Section):
    """Everything the notifier reads from its configuration."""

    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    security: SecuritySettings = SecuritySettings()
    email: EmailSettings = EmailSettings()
    sms: SmsSettings = SmsSettings()
    voice: VoiceSettings = VoiceSettings()
    dispatch: DispatchSettings = DispatchSettings()
    messages: MessagesSettings = MessagesSettings()
    escalation: EscalationSettings = EscalationSettings()
    alerts: AlertsSettings = AlertsSettings()
    drills: DrillsSettings = DrillsSettings()
    readiness: ReadinessSettings = ReadinessSettings()
    costs: CostsSettings = CostsSettings()
    console: ConsoleSettings = ConsoleSettings()
    cap: CapSettings = CapSettings()
    logging: LoggingSettings = LoggingSettings()


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read the file (`path`, else `NOTIFIER_CONFIG`, else none) and overlay the environment."""
    if path is None and environ.get(ENV_CONFIG_FILE):
        path = Path(environ[ENV_CONFIG_FILE])
    values = _read_toml(path) if path is not None else {}
    from_env = _overlay_environment(values, environ)
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_describe(error, from_env, path)) from None


def require_serve_secrets(settings: Settings) -> None:
    """Stop when secrets that running the daemon needs are missing, or the secret key is weak.

    Every problem is named at once, one line each, so that one restart fixes them all.
    """
    problems = [*_secret_key_problems(settings), *_missing_secret_lines(settings)]
    if problems:
        raise ConfigError("\n".join(problems))


def _secret_key_problems(settings: Settings) -> list[str]:
    key = settings.security.secret_key.get_secret_value()
    problem = "required to serve" if not key else _secret_key_problem(key)
    if problem is None:
        return []
    return [
        f"configuration error: security.secret_key: {problem}; make one with "
        f"`notifier secret` and set {env_name('security.secret_key')}"
    ]


def _missing_secret_lines(settings: Settings) -> list[str]:
    return [
        f"configuration error: {key}: required to serve; set {env_name(key)}"
        for key in _missing_secrets(settings)
    ]


def checked_public_url(url: str) -> str:
    """`http.public_url` without trailing slashes; ValueError unless it is an absolute http(s) URL.

    A path is kept as a prefix (the notifier behind a proxy at `/notifier`): links and
    callback paths are appended to it, so a query or a fragment would break them.
    """
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("must hold no spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it checks the port
    except ValueError as error:
        raise ValueError(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "must be an absolute http:// or https:// URL with a host, "
            "e.g. https://notify.example.org"
        )
    if "?" in url or "#" in url:
        raise ValueError("must have no query (?…) or fragment (#…): paths are appended to it")
    if "@" in parts.netloc:
        raise ValueError("must hold no user name or password: it is shown in every link")
    return url.rstrip("/")


def _secret_key_problem(key: str) -> str | None:
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"too short ({len(key)} characters; {MIN_SECRET_KEY_LENGTH} or more needed)"
    reason = weakness(key)
    return f"too weak ({reason})" if reason else None


def _missing_secrets(settings: Settings) -> list[str]:
    """The dotted keys of the provider secrets that serving with these backends needs."""
    missing: list[str] = []
    if settings.sms.backend == "twilio":
        if not settings.sms.account_sid:
            missing.append("sms.account_sid")
        if not settings.sms.auth_token.get_secret_value():
            missing.append("sms.auth_token")
        if not (settings.sms.from_number or settings.sms.messaging_service_sid):
            missing.append("sms.from_number")
    email = settings.email
    if email.backend == "smtp" and email.username and not email.password.get_secret_value():
        missing.append("email.password")
    return missing


def env_name(key: str) -> str:
    """The variable that sets a dotted key: `sms.auth_token` → `NOTIFIER_SMS__AUTH_TOKEN`."""
    return ENV_PREFIX + "__".join(part.upper() for part in key.split("."))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"configuration error: {path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"configuration error: {path}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"configuration error: {path}: not UTF-8 text") from None


def _overlay_environment(values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Write every `NOTIFIER_A__B` variable into `values`; return dotted key → variable name."""
    from_env: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(
                f"configuration error: {name}: not a setting; "
                "variables are named NOTIFIER_<SECTION>__<KEY>"
            )
        target = values
        for part in parts[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"configuration error: {name}: {part} is not a section")
            target = child
        target[parts[-1]] = environ[name]
        from_env[".".join(parts)] = name
    return from_env


def _describe(error: ValidationError, from_env: Mapping[str, str], path: Path | None) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            reason = "unknown key"
        elif problem["type"] == "value_error":
            reason = str(problem.get("ctx", {}).get("error", problem["msg"]))
        else:
            reason = problem["msg"]
            if "input" in problem and not isinstance(problem["input"], dict):
                reason += f" (got {problem['input']!r})"
        # A table's problem (a country code of costs.sms_segment_prices) may come from a
        # variable that set one of its entries.
        inside = (name for dotted, name in from_env.items() if dotted.startswith(key + "."))
        source = from_env.get(key) or next(inside, None) or (str(path) if path else "defaults")
        lines.append(f"configuration error: {key}: {reason} [{source}]")
    return "\n".join(lines)
