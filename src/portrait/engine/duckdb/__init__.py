"""The embedded DuckDB engine, the default: :class:`DuckDBEngine` (``session``) and the SQL it
generates (``sqltext``)."""

from portrait.engine.duckdb.session import DuckDBEngine

#: The class the registry constructs for engine type ``duckdb``.
ENGINE = DuckDBEngine

__all__ = ["ENGINE", "DuckDBEngine"]
