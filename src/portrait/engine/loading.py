"""What goes in and out of the file-loading capability (:class:`portrait.engine.FileLoading`):
input files, the checked rows, what a write produced, and the two ways a read can fail.

Ingest decides (which files, which columns, the types, the dense ids, what a message says);
an engine with this capability does the work on its own relations and reports back in these
engine-neutral values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

FileFormat = Literal["csv", "parquet", "jsonl"]

#: Longest CSV line an engine is asked to read (DuckDB's default, stated so messages can name it).
MAX_LINE_BYTES = 2_000_000

#: What an engine recognised in a failed read: a CSV line over :data:`MAX_LINE_BYTES`, or text
#: that is not JSON. Ingest then scans the file for the exact place (``ingest.textchecks``).
ReadProblem = Literal["line_too_long", "not_json"]


@dataclass(frozen=True)
class InputFile:
    """One input file: where it is, how problems name it, and (CSV) its delimiter."""

    path: Path
    label: str
    delimiter: str = ","


class UnreadableFile(Exception):
    """The engine could not read an input file. ``detail`` is the engine's own message;
    ``problem`` what it recognised in it, if anything."""

    def __init__(self, path: Path, detail: str, problem: ReadProblem | None = None):
        super().__init__(detail)
        self.path = path
        self.detail = detail
        self.problem = problem


class IncompatibleFiles(Exception):
    """The files of one load have columns that cannot be combined (``detail``: the engine's
    message)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class TimeRange(Protocol):
    """The accepted time range ``lo <= t < hi`` (naive UTC), and how messages write it
    (:class:`portrait.store.timebounds.TimeBounds` is one)."""

    @property
    def lo(self) -> dt.datetime: ...

    @property
    def hi(self) -> dt.datetime: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class RowProblem:
    """The first problem of one row: file label, row (line for JSON lines), column (empty or
    None for the whole record) and reason."""

    file: str
    line: int
    column: str | None
    error: str


@dataclass(frozen=True)
class RowCheck:
    """Rows read and rejected, and the first rejected rows' problems in file order."""

    rows: int
    rejected: int
    problems: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class StoredTable:
    """A keyed table's current file and its columns: a loaded row replaces the stored row with
    the same key, stored rows with other keys stay."""

    path: Path
    columns: Collection[str]


@dataclass(frozen=True)
class WrittenTable:
    """What a write produced: rows in the written file, its largest dense id (-1 without),
    its latest time inside the accepted range as text (None without), and how many loaded
    rows replaced a stored row."""

    rows: int
    max_uid: int = -1
    max_time: str | None = None
    replaced: int = 0


@dataclass(frozen=True)
class UnknownUsers:
    """Loaded rows whose ``user_id`` is not a known user: rows, distinct users, a few of them."""

    rows: int
    users: int
    examples: list[str] = field(default_factory=list)
