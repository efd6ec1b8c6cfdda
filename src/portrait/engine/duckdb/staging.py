"""File loading on a DuckDB session (:class:`portrait.engine.Staging`): the files' rows in the
temp table ``src`` (:mod:`.reading`), typed and checked into ``checked`` (:mod:`.checks`),
written from there (:mod:`.writing`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import duckdb

from portrait.engine.duckdb import checks, reading, writing
from portrait.engine.loading import (
    FileFormat,
    InputFile,
    RowCheck,
    RowProblem,
    StoredTable,
    TimeRange,
    UnknownUsers,
    WrittenTable,
)
from portrait.model.schema import TableSpec


class DuckDBStaging:
    """One load on the session ``con``, whose time zone becomes ``timezone`` (the zone of
    input timestamps without an offset)."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, fmt: FileFormat, keep: Collection[str], timezone: str
    ):
        self.con = con
        self.fmt = fmt
        self.keep = keep
        self.utc = timezone == "UTC"  # naive timestamps then need no conversion
        self._reads: list[tuple[InputFile, str]] = []
        self._raw: dict[str, str] = {}
        self._types: dict[str, str] = {}
        con.execute("SET TimeZone = ?", [timezone])

    def read(self, file: InputFile) -> None:
        select = reading.read_file(self.con, len(self._reads), file, self.fmt, self.keep)
        self._reads.append((file, select))

    def combine(self) -> dict[str, str]:
        self._raw = reading.combine(self.con, self._reads, self.fmt)
        return dict(self._raw)

    def rename(self, columns: Sequence[tuple[str, str]]) -> dict[str, str]:
        self._raw = reading.rename(self.con, columns)
        return dict(self._raw)

    def infer_types(self, columns: Collection[str], *, from_text: bool) -> dict[str, str]:
        return checks.infer_types(self.con, {c: self._raw[c] for c in columns}, from_text)

    def check_rows(
        self,
        spec: TableSpec,
        types: Mapping[str, str],
        bounds: TimeRange,
        *,
        trim: bool,
        examples: int,
    ) -> RowCheck:
        self._types = dict(types)
        query = checks.validation_query(spec, types, self._raw, bounds, self.utc, trim=trim)
        self.con.execute("CREATE TEMP TABLE checked AS " + query)
        counts = self.con.execute("SELECT count(*), count(_error) FROM checked").fetchall()[0]
        rows = self.con.execute(
            "SELECT _fname, _line, _column, _error FROM checked WHERE _error IS NOT NULL "
            f"ORDER BY _row LIMIT {int(examples)}"
        ).fetchall()
        return RowCheck(
            rows=int(counts[0]),
            rejected=int(counts[1]),
            problems=[RowProblem(r[0], r[1], r[2], r[3]) for r in rows],
        )

    def write_rejects(self, path: Path) -> None:
        writing.write_rejects(self.con, self._raw, path)

    def append_rows(self, target: Path, *, time_column: str | None) -> WrittenTable:
        return writing.append_rows(self.con, target, time_column)

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
        return writing.merge_rows(
            self.con,
            target,
            key=key,
            columns=columns,
            types=self._types,
            stored=stored,
            first_new_id=first_new_id,
            time_column=time_column,
            bounds=bounds,
        )

    def unknown_users(self, users: Path | None, examples: int) -> UnknownUsers:
        return writing.unknown_users(self.con, users, examples)
