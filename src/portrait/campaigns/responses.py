"""Response events (delivered, opened, clicked, converted) read from files and checked.

A response file has the columns ``campaign``, ``user_id``, ``response``, ``ts`` and, for
conversions, an optional ``revenue``; CSV, JSON lines (``.jsonl``/``.ndjson``/``.json``) or
Parquet. Timestamps are ISO 8601; without an offset they are taken as UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from portrait.errors import InputError
from portrait.model.campaigns import RESPONSES

REQUIRED = ("campaign", "user_id", "response", "ts")


def read_response_file(path: Path) -> pa.Table:
    """The file as an Arrow table (every column as read; checked by :func:`parse_rows`)."""
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            from pyarrow import csv

            options = csv.ConvertOptions(
                column_types={c: pa.string() for c in ("campaign", "user_id", "response", "ts")}
            )
            return csv.read_csv(path, convert_options=options)
        if suffix in (".jsonl", ".ndjson", ".json"):
            from pyarrow import json

            return json.read_json(path)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read responses: {exc}", where=str(path)) from None
    raise InputError(
        f"unknown response file type '{path.suffix}'",
        where=str(path),
        hint="use .csv, .jsonl or .parquet",
    )


@dataclass(frozen=True)
class ResponseRow:
    line: int
    campaign: str
    user_id: str
    response: str
    at: dt.datetime
    revenue: float | None


@dataclass
class ResponseReport:
    """What a load did: rows read, loaded, duplicates (counted once) and rejected rows."""

    source: str
    rows: int = 0
    loaded: int = 0
    duplicates: int = 0
    organic: int = 0  # clicks and conversions of users not sent a message (the holdout)
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, reason: str, row: dict[str, Any]) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.examples) < 10:
            self.examples.append({"row": line, "reason": reason, **row})

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        moment = dt.datetime.fromisoformat(str(value).strip())
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def parse_rows(table: pa.Table, report: ResponseReport) -> list[ResponseRow]:
    """Rows that are well formed; the others are rejected into ``report`` with the reason."""
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InputError(
            f"responses need the column '{missing[0]}'",
            where=report.source,
            hint="columns: campaign, user_id, response, ts and optional revenue",
        )
    rows = []
    has_revenue = "revenue" in table.column_names
    for line, record in enumerate(table.to_pylist(), start=1):
        report.rows += 1
        shown = {k: None if v is None else str(v) for k, v in record.items() if k in REQUIRED}
        if any(record.get(c) in (None, "") for c in REQUIRED):
            empty = next(c for c in REQUIRED if record.get(c) in (None, ""))
            report.reject(line, f"missing {empty}", shown)
            continue
        response = str(record["response"]).strip().lower()
        if response not in RESPONSES:
            report.reject(line, f"unknown response '{record['response']}'", shown)
            continue
        try:
            at = _timestamp(record["ts"])
        except (TypeError, ValueError):
            report.reject(line, "bad timestamp", shown)
            continue
        revenue = record.get("revenue") if has_revenue else None
        if revenue in ("", None):
            revenue = None
        else:
            try:
                revenue = float(revenue)
            except (TypeError, ValueError):
                report.reject(line, "bad revenue", shown)
                continue
            if math.isnan(revenue) or revenue < 0:
                report.reject(line, "bad revenue", shown)
                continue
        rows.append(
            ResponseRow(
                line,
                str(record["campaign"]).strip(),
                str(record["user_id"]).strip(),
                response,
                at,
                revenue,
            )
        )
    return rows
