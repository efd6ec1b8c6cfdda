"""Engines run generated SQL. DuckDB (embedded) is the default; others plug in behind
:class:`Engine`, with their settings (``settings``) and module (``registry``) registered by
type. Optional abilities are capability protocols, such as :class:`FileLoading` (ingest)."""

from portrait.engine.protocol import Engine, FileLoading, Staging
from portrait.engine.registry import (
    check_engine_type,
    default_settings,
    engine_types,
    file_loading,
    missing_capability,
    open_engine,
    settings_from_config,
)
from portrait.engine.settings import DuckDBSettings, EngineSettings

__all__ = [
    "DuckDBSettings",
    "Engine",
    "EngineSettings",
    "FileLoading",
    "Staging",
    "check_engine_type",
    "default_settings",
    "engine_types",
    "file_loading",
    "missing_capability",
    "open_engine",
    "settings_from_config",
]
