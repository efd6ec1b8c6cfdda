"""Output in the three formats every reporting command offers: table (rich), json, csv."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def emit_rows(
    rows: Sequence[dict[str, Any]],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    percent: Sequence[str] = (),
    console: Console | None = None,
) -> None:
    """Print ``rows`` (dicts with the same keys) as a table, a JSON array or CSV."""
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt is OutputFormat.json:
        sys.stdout.write(
            json.dumps(
                [{c: r.get(c) for c in cols} for r in rows],
                ensure_ascii=False,
                indent=2,
                default=str,
            )
            + "\n"
        )
        return
    if fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_csv_cell(r.get(c)) for c in cols])
        sys.stdout.write(buffer.getvalue())
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        table.add_column(
            c, justify="right" if rows and isinstance(rows[0].get(c), int | float) else "left"
        )
    for r in rows:
        table.add_row(
            *[
                f"{r[c] * 100:.1f}%"
                if c in percent and isinstance(r.get(c), int | float)
                else _cell(r.get(c))
                for c in cols
            ]
        )
    (console or output_console()).print(table)


def output_console() -> Console:
    """stdout; when it is not a terminal (a pipe, a file) tables get room instead of 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | tuple):  # as in profile exports: values joined with |
        return "|".join("" if v is None else str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else value


def emit_record(record: dict[str, Any], fmt: OutputFormat, *, title: str | None = None) -> None:
    """Print one report (a dict) as a two-column table, a JSON object or key,value CSV."""
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    rows = [{"field": k, "value": v} for k, v in record.items()]
    emit_rows(rows, fmt, title=title, columns=["field", "value"])
