"""DuckDB SQL text: quoted identifiers, literals, and the value type of a DuckDB column type."""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from portrait.engine.loading import TimeRange


def value_type(duckdb_type: str) -> str:
    """Portrait value type of a DuckDB column type."""
    t = duckdb_type.upper()
    if t.endswith("[]"):
        return "list<string>"
    if t in (
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
    ):
        return "int"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t == "BOOLEAN":
        return "bool"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return "string"


def quote(name: str) -> str:
    """A safely quoted DuckDB identifier."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def sql_literal(text: str) -> str:
    """A string as a DuckDB string literal (escaped by SQLGlot)."""
    return exp.Literal.string(text).sql(dialect="duckdb")


def path_literal(path: Path) -> str:
    """A file path as a DuckDB string literal."""
    return exp.Literal.string(str(path)).sql(dialect="duckdb")


def time_range_literals(bounds: TimeRange) -> tuple[str, str]:
    """DuckDB literals of the range's bounds."""
    return (f"TIMESTAMP '{bounds.lo.isoformat(' ')}'", f"TIMESTAMP '{bounds.hi.isoformat(' ')}'")
