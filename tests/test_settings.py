"""Configuration: file, environment overrides, and one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from notifier.errors import ConfigError
from notifier.settings import Settings, env_name, load_settings, require_serve_secrets

STRONG_KEY = "Zk3v-Qp9xW_m2LrT8bYc0NhJ5sGd1FaE7uKo4Ri6yXe"


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
        "NOTIFIER_SECURITY__SECRET_KEY": STRONG_KEY,
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


def _numeric_keys(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Every int and float setting of `model` as a dotted key; nested models are sections."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_numeric_keys(annotation, f"{prefix}{name}."))
        elif annotation in (int, float):
            keys.append(f"{prefix}{name}")
    return keys


def test_every_number_has_a_lower_and_an_upper_bound() -> None:
    """Each int and float setting, in every section, is bounded on both sides."""
    keys = _numeric_keys()
    assert {"http.shutdown_grace_seconds", "email.inbound.max_mime_parts"} <= set(keys)
    assert "email.inbound.enabled" not in keys
    unbounded = []
    for key in keys:
        *sections, name = key.split(".")
        model: type[BaseModel] = Settings
        for section in sections:
            annotation = model.model_fields[section].annotation
            assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
            model = annotation
        bounds = {type(rule).__name__ for rule in model.model_fields[name].metadata}
        if not ({"Ge", "Gt"} & bounds and {"Le", "Lt"} & bounds):
            unbounded.append(key)
    assert unbounded == []


@pytest.mark.parametrize("key", _numeric_keys())
@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-1"])
def test_out_of_range_numbers_name_the_key(tmp_path: Path, key: str, value: str) -> None:
    """inf, nan, 1e300 and -1 for any number, from the environment or the file, is one line."""
    *sections, name = key.split(".")
    from_file = _write(tmp_path, f"[{'.'.join(sections)}]\n{name} = {value}\n")
    for path, env in ((None, {env_name(key): value}), (from_file, {})):
        with pytest.raises(ConfigError) as raised:
            load_settings(path, env)
        message = str(raised.value)
        assert message.startswith(f"configuration error: {key}: ")
        assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("a" * 32, "too weak (1 different character; 8 or more needed)"),
        (" " * 20, "too weak (only white space)"),
        (
            "\t \n\r\u00a0\u2003\u3000\u2028\u2029\u200a\u2009\u205f" * 2,
            "too weak (only white space)",
        ),
        ("hunter2hunter2hunter2", "too weak (7 different characters; 8 or more needed)"),
        ("abcdefghijklmnopqrstuvwxyz", "too weak (about 9 bits of randomness; 64 or more needed)"),
        ("password12345678", "too weak (about 47 bits of randomness; 64 or more needed)"),
        (
            "0123456789abcdef0123456789abcdef",
            "too weak (about 31 bits of randomness; 64 or more needed)",
        ),
        ("short-key", "too short (9 characters; 16 or more needed)"),
        # Random keys and passphrases of some length are taken as they are.
        (STRONG_KEY, None),
        ("correct horse battery staple", None),
        ("my dog has fleas!", None),
        ("Tr0ub4dor&3xyzAB", None),
        ("quatre chevaux bleus à minuit", None),
        ("моя секретная фраза", None),
        ("我们每天早上七点在河边喝一杯绿茶", None),
        ("test-secret-key-0123456789", None),
        ("process-test-secret-key", None),
        ("0f3a9c27e1b84d56", None),
    ],
)
def test_secret_key_is_judged_by_its_variety(key: str, reason: str | None) -> None:
    """A key too short or of too little variety stops serve, saying how to make a good one."""
    env = {"NOTIFIER_SECURITY__SECRET_KEY": key, "NOTIFIER_SMS__BACKEND": "console"}
    settings = load_settings(None, env)
    if reason is None:
        require_serve_secrets(settings)
        return
    with pytest.raises(ConfigError) as raised:
        require_serve_secrets(settings)
    assert str(raised.value) == (
        f"configuration error: security.secret_key: {reason}; "
        "make one with `notifier secret` and set NOTIFIER_SECURITY__SECRET_KEY"
    )


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://notify.example.org", "https://notify.example.org"),
        ("https://notify.example.org/", "https://notify.example.org"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://example.org/notifier/", "https://example.org/notifier"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_public_url_is_kept_without_trailing_slash(url: str, kept: str) -> None:
    """An absolute http(s) URL is kept, a path as a prefix, without a trailing slash."""
    settings = load_settings(None, {"NOTIFIER_HTTP__PUBLIC_URL": url})
    assert settings.http.public_url == kept


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("notify.example.org", "must be an absolute http:// or https:// URL with a host"),
        ("/notifier", "must be an absolute http:// or https:// URL with a host"),
        ("ftp://notify.example.org", "must be an absolute http:// or https:// URL with a host"),
        ("https://", "must be an absolute http:// or https:// URL with a host"),
        ("https://notify.example.org/?a=1", "must have no query (?…) or fragment (#…)"),
        ("https://notify.example.org/#top", "must have no query (?…) or fragment (#…)"),
        ("https://user:secret@notify.example.org", "must hold no user name or password"),
        ("https://notify.example.org:99999", "not a valid URL: Port out of range"),
        ("https://notify example.org", "must hold no spaces or control characters"),
        ("", "must be an absolute http:// or https:// URL with a host"),
    ],
)
def test_bad_public_url_is_one_line(url: str, reason: str) -> None:
    """A public URL that links and callbacks cannot be built on stops loading, naming it."""
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"NOTIFIER_HTTP__PUBLIC_URL": url})
    message = str(raised.value)
    assert message.startswith(f"configuration error: http.public_url: {reason}")
    assert message.endswith("[NOTIFIER_HTTP__PUBLIC_URL]")
    assert "user:secret" not in message
    assert len(message.splitlines()) == 1


def test_drill_misfire_grace_defaults_to_an_hour_and_is_bounded(tmp_path: Path) -> None:
    """drills.misfire_grace_minutes is 60 unless set; below one minute is refused by name."""
    assert load_settings(None, {}).drills.misfire_grace_minutes == 60
    path = _write(tmp_path, "[drills]\nmisfire_grace_minutes = 90.5\n")
    assert load_settings(path, {}).drills.misfire_grace_minutes == 90.5
    with pytest.raises(
        ConfigError, match=r"drills\.misfire_grace_minutes: Input should be greater"
    ):
        load_settings(None, {"NOTIFIER_DRILLS__MISFIRE_GRACE_MINUTES": "0.5"})


def test_cap_geocodes_from_file_and_environment(tmp_path: Path) -> None:
    """`[cap.geocodes.SAME]` lists codes; a variable gives them separated by commas."""
    path = _write(tmp_path, '[cap.geocodes.SAME]\n"006037" = ["lax", "PAS"]\n')
    environ = {"NOTIFIER_CAP__GEOCODES__SAME__006109": "SONORA, ALPINE"}
    settings = load_settings(path, environ)
    assert settings.cap.geocodes == {
        "SAME": {"006037": ["LAX", "PAS"]},
        "same": {"006109": ["SONORA", "ALPINE"]},
    }


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[cap]\nsender = "ens at example.org"\n', "cap.sender"),
        ('[cap.geocodes.SAME]\n"006037" = ["LOS-ANGELES"]\n', "cap.geocodes"),
        ('[[cap.rules]]\nurgency = "Soon"\naction = "send"\n', "cap.rules.0.urgency.0"),
        ('[[cap.rules]]\nstatus = "Actual"\naction = "page"\n', "cap.rules.0.action"),
        ('[[cap.feeds]]\nurl = "file:///etc/passwd"\n', "cap.feeds.0.url"),
        (
            '[[cap.feeds]]\nurl = "https://x.example/f"\nevery_seconds = 0\n',
            "cap.feeds.0.every_seconds",
        ),
        (
            '[[cap.feeds]]\nurl = "https://x.example/f"\nstations = ["N B O"]\n',
            "cap.feeds.0.stations",
        ),
        ('[[cap.feeds]]\nurl = "https://x.example/f"\n' * 2, "cap.feeds"),
    ],
)
def test_bad_cap_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    """A sender CAP cannot carry, a station code that is none, a word CAP lacks: named."""
    with pytest.raises(ConfigError, match=rf"configuration error: {key}: "):
        load_settings(_write(tmp_path, text), {})


def test_cap_feeds_from_the_file(tmp_path: Path) -> None:
    """Each `[[cap.feeds]]` table a feed: every 300 s and for any station unless told."""
    path = _write(
        tmp_path,
        '[[cap.feeds]]\nurl = "https://a.example/feed.atom"\n'
        '[[cap.feeds]]\nurl = "http://b.example/cap.xml"\nevery_seconds = 60\nstations = ["nbo"]\n',
    )
    first, second = load_settings(path, {}).cap.feeds
    assert (first.url, first.every_seconds, first.stations) == (
        "https://a.example/feed.atom",
        300,
        [],
    )
    assert (second.every_seconds, second.stations) == (60, ["NBO"])


def test_whatsapp_from_is_a_number_with_or_without_its_prefix() -> None:
    """`sms.whatsapp_from` may be written as Twilio shows it (`whatsapp:+…`); kept bare."""
    environ = {"NOTIFIER_SMS__WHATSAPP_FROM": "whatsapp:+14155238886"}
    assert load_settings(None, environ).sms.whatsapp_from == "+14155238886"
    assert load_settings(None, {}).sms.whatsapp_from == ""
    with pytest.raises(ConfigError, match=r"sms.whatsapp_from: .*'0722000111' is not a number"):
        load_settings(None, {"NOTIFIER_SMS__WHATSAPP_FROM": "0722000111"})
