"""Read a CSV or JSON data file into rows that remember their line, or say why it cannot."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from notifier.errors import RosterError, RowProblem

_JSON_VALUE = str | int | float | None


@dataclass(frozen=True, slots=True)
class Row:
    """One record of a data file: its first line in the file and its values by column."""

    line: int
    values: dict[str, str]
    """Every required column; an optional column only when the header or object has it."""


def read_rows(
    path: Path,
    columns: Sequence[str],
    *,
    name: str | None = None,
    optional: Collection[str] = (),
    optional_columns: Sequence[str] = (),
    separators: Mapping[str, str] | None = None,
) -> list[Row]:
    """Read `path` (CSV, or JSON by its `.json` suffix) whose columns must be `columns`.

    A JSON object may leave out the `optional` keys, which then read as empty. A CSV header or a
    JSON object may also have any of `optional_columns`, or not: a row's `values` hold such a
    column only when its file (CSV) or object (JSON) has it. A JSON list is read as its items
    joined by the column's separator in `separators` (default `;`).
    """
    source = name or str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise RosterError([RowProblem(source, 1, "file", error.strerror or str(error))]) from None
    text = _decode(raw, source)
    if not text.strip():
        expected = ",".join(columns)
        raise RosterError(
            [RowProblem(source, 1, "file", f"empty file; expected the header {expected}")]
        )
    layout = _Layout(columns, optional_columns, optional, separators or {})
    if path.suffix.lower() == ".json":
        return _json_rows(text, source, layout)
    return _csv_rows(text, source, layout)


@dataclass(frozen=True, slots=True)
class _Layout:
    """The columns a file must have and may have, and how JSON lists are joined."""

    required: Sequence[str]
    optional_columns: Sequence[str]
    json_optional: Collection[str]
    separators: Mapping[str, str]

    @property
    def known(self) -> tuple[str, ...]:
        """Every column the file may have, required ones first."""
        return (*self.required, *self.optional_columns)


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        byte = raw[error.start]
        raise RosterError(
            [
                RowProblem(
                    source, line, "file", f"not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8"
                )
            ]
        ) from None


def _check_columns(
    found: Sequence[str],
    layout: _Layout,
    source: str,
    line: int,
    optional: Collection[str] = (),
) -> list[RowProblem]:
    problems = []
    missing = [
        column for column in layout.required if column not in found and column not in optional
    ]
    extra = [column for column in found if column not in layout.known]
    if missing:
        problems.append(
            RowProblem(source, line, "header", f"missing column(s): {', '.join(missing)}")
        )
    if extra:
        shown = ", ".join(repr(column) for column in extra)
        problems.append(RowProblem(source, line, "header", f"unknown column(s): {shown}"))
    duplicated = sorted({column for column in found if list(found).count(column) > 1})
    if duplicated:
        problems.append(
            RowProblem(source, line, "header", f"repeated column(s): {', '.join(duplicated)}")
        )
    return problems


def _csv_rows(text: str, source: str, layout: _Layout) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip() for cell in next(reader)]
    except csv.Error as error:
        raise RosterError([RowProblem(source, 1, "header", f"not valid CSV: {error}")]) from None
    problems = _check_columns(header, layout, source, reader.line_num)
    if problems:
        raise RosterError(problems)
    rows: list[Row] = []
    line = reader.line_num + 1
    try:
        for cells in reader:
            if cells and any(cell.strip() for cell in cells):
                if len(cells) != len(header):
                    problems.append(
                        RowProblem(
                            source,
                            line,
                            "row",
                            f"{len(cells)} values, the header has {len(header)}",
                        )
                    )
                else:
                    rows.append(Row(line, dict(zip(header, cells, strict=True))))
            line = reader.line_num + 1
    except csv.Error as error:
        problems.append(RowProblem(source, line, "row", f"not valid CSV: {error}"))
    if problems:
        raise RosterError(problems)
    return rows


def _json_rows(text: str, source: str, layout: _Layout) -> list[Row]:
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if text[position] != "[":
        line = text.count("\n", 0, position) + 1
        raise RosterError([RowProblem(source, line, "file", "expected a JSON list of objects")])
    position = _skip_space(text, position + 1)
    rows: list[Row] = []
    problems: list[RowProblem] = []
    while position < len(text) and text[position] != "]":
        line = text.count("\n", 0, position) + 1
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise _syntax_error(source, text, error.pos, error.msg) from None
        row_problems = _json_object_problems(item, source, line, layout)
        if row_problems:
            problems.extend(row_problems)
        else:
            rows.append(Row(line, _json_values(item, layout)))
        position = _next_item(text, source, position)
    if position >= len(text) or text[_skip_space(text, position + 1) :].strip():
        line = text.count("\n", 0, min(position, len(text))) + 1
        problems.append(RowProblem(source, line, "file", "not valid JSON: the list is not closed"))
    if problems:
        raise RosterError(problems)
    return rows


def _next_item(text: str, source: str, position: int) -> int:
    """Past the comma that ends a list item; at the `]` that closes the list; else an error."""
    position = _skip_space(text, position)
    if position < len(text) and text[position] == ",":
        following = _skip_space(text, position + 1)
        if following < len(text) and text[following] == "]":
            raise _syntax_error(source, text, position, "a comma before the closing ']'")
        return following
    if position < len(text) and text[position] != "]":
        raise _syntax_error(source, text, position, "expected ',' or ']' after an object")
    return position


def _syntax_error(source: str, text: str, position: int, reason: str) -> RosterError:
    """A JSON syntax error at `position`, named by its line (as FILE:LINE) and column."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return RosterError(
        [RowProblem(source, line, "file", f"not valid JSON at column {column}: {reason}")]
    )


def _json_object_problems(
    item: object, source: str, line: int, layout: _Layout
) -> list[RowProblem]:
    if not isinstance(item, dict):
        return [RowProblem(source, line, "row", "expected an object with the roster's keys")]
    problems = _check_columns(list(item), layout, source, line, layout.json_optional)
    for column in layout.known:
        value = item.get(column)
        if column in item and (
            isinstance(value, bool) or not isinstance(value, _JSON_VALUE | list)
        ):
            problems.append(RowProblem(source, line, column, "must be text"))
        if isinstance(value, list) and not all(isinstance(part, str) for part in value):
            problems.append(RowProblem(source, line, column, "must be text or a list of text"))
    return problems


def _json_values(item: dict[str, object], layout: _Layout) -> dict[str, str]:
    """The object's values as text: every required column, and the optional ones it has."""
    present = [column for column in layout.optional_columns if column in item]
    return {
        column: _as_text(item.get(column), layout.separators.get(column, ";"))
        for column in (*layout.required, *present)
    }


def _as_text(value: object, separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return separator.join(value)
    return str(value)


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position
