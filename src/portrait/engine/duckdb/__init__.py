"""The embedded DuckDB engine, the default.

- ``session``: :class:`DuckDBEngine`, the :class:`~portrait.engine.Engine` methods over one
  in-memory connection, and the :class:`~portrait.engine.FileLoading` capability;
- ``staging``: one load of input files (what ingest calls), over ``reading`` (files → rows with
  file and line bookkeeping; ``jsonlines`` for JSON lines), ``checks`` (type inference, the
  per-row validation query; ``conversions`` per value type) and ``writing`` (table files,
  rejects, unknown users);
- ``sqltext``: quoted identifiers, literals, DuckDB types → value types.
"""

from portrait.engine.duckdb.session import DuckDBEngine

#: The class the registry constructs for engine type ``duckdb``.
ENGINE = DuckDBEngine

__all__ = ["ENGINE", "DuckDBEngine"]
