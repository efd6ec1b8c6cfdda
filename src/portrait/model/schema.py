"""The three input tables Portrait knows, their required columns and value types."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from portrait.errors import InputError

#: A single value in a definition or a rule.
Scalar = str | int | float | bool

ValueType = Literal["string", "int", "float", "bool", "date", "timestamp", "list<string>"]
VALUE_TYPES: tuple[str, ...] = (
    "string",
    "int",
    "float",
    "bool",
    "date",
    "timestamp",
    "list<string>",
)
NUMERIC_TYPES = frozenset({"int", "float", "date", "timestamp"})

#: The SQL (DuckDB) type that stores each value type, in the warehouse and the profile.
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "list<string>": "VARCHAR[]",
}

TableName = Literal["users", "events", "orders"]
TABLES: tuple[TableName, ...] = ("users", "events", "orders")


def temporal_value(text: object, value_type: str) -> dt.date | dt.datetime:
    """A date (``2026-10-01``) or timestamp (``2026-10-01T08:00:00``, optionally with an offset
    such as ``+08:00``) written in a rule, as a date or a naive UTC datetime.

    Raises ``ValueError`` with a readable message for text that is neither.
    """
    raw = str(text).strip()
    try:
        if value_type == "date":
            return dt.date.fromisoformat(raw)
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        example = (
            "2026-10-01" if value_type == "date" else "2026-10-01 or 2026-10-01T08:00:00+08:00"
        )
        raise ValueError(f"{raw!r} is not a {value_type} (e.g. {example})") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


#: Column names reserved in the profile: the external id and the dense id.
RESERVED_COLUMNS = frozenset({"user_id", "uid"})


@dataclass(frozen=True)
class TableSpec:
    """Required columns (name → type) and how rows are keyed for idempotent re-ingest."""

    name: TableName
    required: dict[str, ValueType]
    optional: dict[str, ValueType] = field(default_factory=dict)
    key: str | None = None  # rows with the same key replace earlier ones; None: append-only batches
    time_column: str | None = None

    def known(self) -> dict[str, ValueType]:
        return {**self.required, **self.optional}


TABLE_SPECS: dict[TableName, TableSpec] = {
    "users": TableSpec(
        "users",
        required={"user_id": "string"},
        optional={"registered_at": "timestamp"},
        key="user_id",
    ),
    "events": TableSpec(
        "events",
        required={"user_id": "string", "ts": "timestamp", "event": "string"},
        optional={"business_line": "string"},
        time_column="ts",
    ),
    "orders": TableSpec(
        "orders",
        required={"order_id": "string", "user_id": "string", "ts": "timestamp", "amount": "float"},
        optional={"items": "list<string>", "business_line": "string"},
        key="order_id",
        time_column="ts",
    ),
}

#: Schema of loaded data as the compiler sees it: table → column → value type.
Schema = dict[str, dict[str, str]]


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """``["user_id=uid", "ts=event_time"]`` → ``{"user_id": "uid", "ts": "event_time"}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise InputError(
                f"bad column mapping '{item}'",
                hint="write TARGET=SOURCE, e.g. --map user_id=member_no",
            )
        mapping[target.strip()] = source.strip()
    return mapping
