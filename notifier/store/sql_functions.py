"""SQL functions that SQLite and PostgreSQL spell differently, written once for both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class position_in(FunctionElement[int]):  # noqa: N801  # an SQL function, named as SQL's are
    """`position_in(text, part)`: where `part` first starts in `text`, from 1; 0 if nowhere."""

    type = Integer()
    inherit_cache = True
    name = "position_in"

    def __init__(self, text: ColumnElement[str], part: ColumnElement[str] | str) -> None:
        super().__init__(text, part)


@compiles(position_in)
def _instr(element: position_in, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(position_in, "postgresql")
def _strpos(element: position_in, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"
