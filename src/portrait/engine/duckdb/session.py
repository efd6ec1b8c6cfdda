"""A DuckDB session: the :class:`~portrait.engine.Engine` methods over one in-memory connection."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlglot import exp

from portrait.engine.duckdb.sqltext import path_literal, quote, value_type
from portrait.engine.duckdb.staging import DuckDBStaging
from portrait.engine.loading import FileFormat
from portrait.engine.protocol import FileLoading
from portrait.engine.settings import DuckDBSettings


class DuckDBEngine(FileLoading):
    """One in-memory DuckDB connection; data is read from and written to Parquet files.
    Capabilities: :class:`~portrait.engine.FileLoading` (:mod:`.staging`).

    Queries run in UTC (stored times are naive UTC); ``settings.timezone`` is only the zone
    that input timestamps without an offset are read in while loading files."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, settings: DuckDBSettings | None = None):
        self.settings = settings = settings or DuckDBSettings()
        self.con = duckdb.connect(":memory:")
        if settings.threads:
            self.con.execute(f"SET threads = {int(settings.threads)}")
        if settings.memory_limit:
            self.con.execute("SET memory_limit = ?", [settings.memory_limit])
        self.con.execute("SET TimeZone = 'UTC'")
        # DuckDB's own progress bar writes to stdout and would corrupt --format json output.
        self.con.execute("SET enable_progress_bar = false")
        if settings.spill_directory is not None:
            settings.spill_directory.mkdir(parents=True, exist_ok=True)
            self.con.execute("SET temp_directory = ?", [str(settings.spill_directory)])

    def sql(self, query: exp.Expr | str) -> str:
        return query if isinstance(query, str) else query.sql(dialect=self.dialect)

    def register_parquet(self, name: str, paths: list[Path]) -> None:
        files = "[" + ", ".join(path_literal(p) for p in paths) + "]"
        self.con.execute(
            f"CREATE OR REPLACE VIEW {quote(name)} AS "
            f"SELECT * FROM read_parquet({files}, union_by_name = true)"
        )

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def create_view(self, name: str, query: exp.Expr | str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS {self.sql(query)}")

    def columns(self, name: str) -> dict[str, str]:
        rows = self.con.execute(f"DESCRIBE {quote(name)}").fetchall()
        return {row[0]: value_type(row[1]) for row in rows}

    def materialize(self, name: str, query: exp.Expr | str) -> int:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {self.sql(query)}")
        return self._count(f"SELECT count(*) FROM {quote(name)}")

    def to_arrow(self, query: exp.Expr | str) -> pa.Table:
        return self.con.sql(self.sql(query)).to_arrow_table()

    def to_parquet(self, query: exp.Expr | str, path: Path) -> int:
        self.con.execute(
            f"COPY ({self.sql(query)}) TO {path_literal(path)} "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        return self._count(f"SELECT count(*) FROM read_parquet({path_literal(path)})")

    def _count(self, query: str) -> int:
        # fetchall, not fetchone: DuckDB 2 refuses the next con.sql() while a result is unread.
        ((count,),) = self.con.execute(query).fetchall()
        return int(count)

    def staging(self, fmt: FileFormat, keep: Collection[str]) -> DuckDBStaging:
        return DuckDBStaging(self.con, fmt, keep, self.settings.timezone)

    def close(self) -> None:
        self.con.close()
