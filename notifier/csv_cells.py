"""Cells of a CSV file that a spreadsheet will show as text, never run as a formula."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes a cell starting with to be a formula (CSV injection)."""


def cell(text: str) -> str:
    """`text`, with a leading `'` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text
