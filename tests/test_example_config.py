"""The example configuration documents every setting, with the default value."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from notifier.settings import Settings, load_settings

EXAMPLE = Path(__file__).parent.parent / "config" / "notifier.example.toml"


def _setting_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every leaf key of `model` as a dotted path; nested models are sections."""
    keys: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_setting_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _has_key(table: dict[str, Any], dotted: str) -> bool:
    """Whether the TOML `table` holds the dotted key, each part but the last a table."""
    *sections, key = dotted.split(".")
    for section in sections:
        child = table.get(section)
        if not isinstance(child, dict):
            return False
        table = child
    return key in table


def test_example_loads_and_equals_the_defaults() -> None:
    """The example file loads without error and sets exactly the built-in defaults."""
    assert load_settings(EXAMPLE, {}) == Settings()


def test_walk_finds_nested_sections() -> None:
    """The key walk descends into sections, so the coverage test below checks them too."""
    keys = _setting_keys(Settings)
    assert "email.inbound.port" in keys
    assert "logging.format" in keys
    assert "email.inbound" not in keys


def test_example_documents_every_setting() -> None:
    """Every key of `Settings` appears in the example, so a new undocumented key fails."""
    with EXAMPLE.open("rb") as file:
        example = tomllib.load(file)
    missing = [key for key in _setting_keys(Settings) if not _has_key(example, key)]
    assert missing == [], f"not in {EXAMPLE.name}: {', '.join(missing)}"
