"""Engines run generated SQL. DuckDB (embedded) is the default; others plug in behind
:class:`Engine`."""

from portrait.engine.base import Engine, EngineSettings, open_engine

__all__ = ["Engine", "EngineSettings", "open_engine"]
