"""The example configuration documents every setting, with the default value."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from annotated_types import Le
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


def _comments(text: str) -> dict[str, str]:
    """The comment above each dotted key; keys listed one after another share the first's."""
    comments: dict[str, str] = {}
    section, block, current = "", [], ""
    for line in (line.strip() for line in text.splitlines()):
        if line.startswith("#"):
            block.append(line.lstrip("# "))
        elif line.startswith("["):
            section, block = line.strip("[]") + ".", []
        elif "=" in line:
            current = " ".join(block) if block else current
            comments[section + line.split("=")[0].strip()] = current
            block = []
    return comments


def _upper_bounds(model: type[BaseModel], prefix: str = "") -> dict[str, float | None]:
    """Every number of `model` as a dotted key, with its upper bound (None when unbounded)."""
    bounds: dict[str, float | None] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            bounds |= _upper_bounds(annotation, f"{prefix}{name}.")
        elif annotation in (int, float):
            limits = [
                float(rule.le)
                for rule in field.metadata
                if isinstance(rule, Le) and isinstance(rule.le, int | float)
            ]
            bounds[f"{prefix}{name}"] = limits[0] if limits else None
    return bounds


def test_example_states_each_numbers_upper_bound() -> None:
    """The comment of every number in the example gives its upper bound, as loading enforces."""
    comments = _comments(EXAMPLE.read_text(encoding="utf-8"))
    unstated = []
    for key, bound in _upper_bounds(Settings).items():
        written = f"{bound:.0f}" if bound is not None and bound.is_integer() else str(bound)
        if bound is None or written not in comments[key].replace(",", ""):
            unstated.append(f"{key} ({written})")
    assert unstated == []
