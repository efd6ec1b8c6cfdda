"""The engine interface: what tag builds and ingest need from a SQL engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa
from sqlglot import exp

from portrait.config import Config


@dataclass(frozen=True)
class EngineSettings:
    type: str = "duckdb"
    threads: int = 0
    memory_limit: str = ""
    timezone: str = "UTC"
    #: where the engine spills intermediate data that does not fit in memory
    spill_directory: Path | None = None

    @classmethod
    def from_config(cls, config: Config, spill_directory: Path | None = None) -> EngineSettings:
        return cls(
            type=config["engine.type"],
            threads=config["engine.threads"],
            memory_limit=config["engine.memory_limit"],
            timezone=config["data.timezone"],
            spill_directory=spill_directory,
        )


class Engine(Protocol):
    """A SQL engine session. Queries arrive as SQLGlot expressions (rendered in the engine's
    dialect) or, for engine-specific plumbing inside the engine package, as text."""

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


def open_engine(settings: EngineSettings) -> Engine:
    """The engine named by ``settings.type`` (imported lazily: optional engines are extras)."""
    if settings.type == "duckdb":
        from portrait.engine.duckdb import DuckDBEngine

        return DuckDBEngine(settings)
    raise ValueError(f"unknown engine {settings.type!r}")
