"""What Portrait asks of a SQL engine.

:class:`Engine` is what every engine implements: what tag builds, rule SQL and reports need.
Further abilities are capabilities (as in Ibis): protocols an engine implements or not, checked
with ``isinstance`` (:func:`portrait.engine.require`) so that a missing one is a clear error
rather than a ``NotImplementedError`` half-way. Today: :class:`FileLoading`, what ingest needs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa
from sqlglot import exp

from portrait.engine.loading import (
    FileFormat,
    InputFile,
    RowCheck,
    StoredTable,
    TimeRange,
    UnknownUsers,
    WrittenTable,
)
from portrait.model.schema import TableSpec


@runtime_checkable
class Engine(Protocol):
    """A SQL engine session. Queries arrive as SQLGlot expressions, rendered in the engine's
    ``dialect``; ``name`` is the engine's type in the registry."""

    name: str
    dialect: str

    def register_parquet(self, name: str, paths: list[Path]) -> None:
        """Expose Parquet files as a view ``name`` (columns unioned by name)."""

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table as relation ``name``."""

    def create_view(self, name: str, query: exp.Expr) -> None:
        """A view ``name`` over ``query``."""

    def columns(self, name: str) -> dict[str, str]:
        """Column name → Portrait value type of a registered relation."""

    def materialize(self, name: str, query: exp.Expr) -> int:
        """Run ``query`` into a temporary table ``name``; return its row count."""

    def to_arrow(self, query: exp.Expr) -> pa.Table:
        """Run ``query`` and return the result."""

    def to_parquet(self, query: exp.Expr, path: Path) -> int:
        """Run ``query`` and write the result to one Parquet file; return the row count."""

    def close(self) -> None: ...


class Staging(Protocol):
    """Input files staged row by row, in a relation of the engine's own (one per load).

    The steps run in order: :meth:`read` each file, :meth:`combine`, optionally :meth:`rename`,
    :meth:`infer_types` for the columns whose type ingest does not know, :meth:`check_rows`;
    then the writes. Every row keeps its file label and row (JSON lines: line) number.
    """

    def read(self, file: InputFile) -> None:
        """Read one file (in the load's format).

        Raises :class:`~portrait.engine.loading.UnreadableFile` when the engine cannot read it,
        :class:`~portrait.errors.IngestError` for a file whose fields cannot be columns."""

    def combine(self) -> dict[str, str]:
        """Join the files read into one staged relation, in file and row order; return its
        columns (name → the engine's raw type). Raises
        :class:`~portrait.engine.loading.IncompatibleFiles`."""

    def rename(self, columns: Sequence[tuple[str, str]]) -> dict[str, str]:
        """Keep only ``columns`` (staged name, new name), in that order; return the columns."""

    def infer_types(self, columns: Collection[str], *, from_text: bool) -> dict[str, str]:
        """The value type of each of ``columns``: from its raw type, or from every value of a
        column that has no type of its own (JSON; text too when ``from_text``)."""

    def check_rows(
        self,
        spec: TableSpec,
        types: Mapping[str, str],
        bounds: TimeRange,
        *,
        trim: bool,
        examples: int,
    ) -> RowCheck:
        """Convert every column to its value type and find each row's first problem (required
        value missing, value not of the type, time outside ``bounds``, key repeated in the
        files). ``trim``: text was typed by hand (CSV) and has whitespace trimmed. The result
        names the first ``examples`` problems."""

    def write_rejects(self, path: Path) -> None:
        """Write the rejected rows to the CSV file ``path``: file, row, column, reason, and the
        row's values as the file had them."""

    def append_rows(self, target: Path, *, time_column: str | None) -> WrittenTable:
        """Write the good rows to the Parquet file ``target``, as loaded."""

    def merge_rows(
        self,
        target: Path,
        *,
        key: str,
        columns: Sequence[str],
        stored: StoredTable | None,
        first_new_id: int | None,
        time_column: str | None,
        bounds: TimeRange,
    ) -> WrittenTable:
        """Write the Parquet file ``target``: the stored rows, each replaced by the good row with
        the same ``key`` (a column the files do not have keeps its stored value), plus the new
        keys; ``columns`` in that order. With ``first_new_id``, a dense id ``uid`` first: a
        stored key keeps its id, new keys are numbered from ``first_new_id`` in file order, and
        rows are ordered by it."""

    def unknown_users(self, users: Path | None, examples: int) -> UnknownUsers:
        """Good rows whose ``user_id`` is not in the Parquet file ``users`` (every row without)."""


@runtime_checkable
class FileLoading(Protocol):
    """Capability: read CSV, Parquet and JSON-lines files and check them row by row (ingest)."""

    def staging(self, fmt: FileFormat, keep: Collection[str]) -> Staging:
        """A new load of files of format ``fmt`` (one per session: ingest opens an engine for
        each load). ``keep``: field names a JSON reader must not flatten (the table's known
        columns)."""
