"""The engines Portrait knows: type name → the module that implements it, imported only when
an engine of that type is opened (optional engines are extras with heavy dependencies).

Each module exposes ``ENGINE``, the class implementing :class:`~portrait.engine.Engine`,
constructed from its settings (:mod:`portrait.engine.settings`, the same ``type``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from portrait.config import Config
from portrait.engine.protocol import Engine, FileLoading
from portrait.engine.settings import EngineSettings
from portrait.errors import ConfigError, suggest

#: Engine type → implementing module. A Spark engine adds ``"spark": "portrait.engine.spark"``.
ENGINES: dict[str, str] = {
    "duckdb": "portrait.engine.duckdb",
}

_SETTINGS: TypeAdapter[EngineSettings] = TypeAdapter(EngineSettings)


def engine_types() -> list[str]:
    """The registered engine types, the default first."""
    return list(ENGINES)


def check_engine_type(name: str, where: str | None = None) -> str:
    """``name`` when it is a registered engine type, else a :class:`ConfigError` naming the
    known types (``where``: where the setting came from)."""
    if name in ENGINES:
        return name
    hint = suggest(name, ENGINES)
    known = "engines: " + ", ".join(ENGINES)
    raise ConfigError(
        f"unknown engine '{name}' for setting 'engine.type'",
        where=where,
        hint=f"{hint} ({known})" if hint else known,
    )


def settings_from_config(config: Config, spill_directory: Path | None = None) -> EngineSettings:
    """The settings of the engine ``engine.type`` names, from the workspace settings."""
    where = config.sources.get("engine.type")
    name = check_engine_type(config["engine.type"], None if where == "default" else where)
    values: dict[str, Any] = {
        "type": name,
        "threads": config["engine.threads"],
        "memory_limit": config["engine.memory_limit"],
        "timezone": config["data.timezone"],
        "spill_directory": spill_directory,
    }
    try:
        return _SETTINGS.validate_python(values)
    except ValidationError as exc:
        raise ConfigError(f"bad settings for the {name} engine: {exc}", where=where) from None


def default_settings() -> EngineSettings:
    """The default engine's default settings (for a reader that is given no session)."""
    return _SETTINGS.validate_python({"type": engine_types()[0]})


def engine_class(name: str) -> type[Any]:
    """The class implementing engine type ``name`` (its module imported now)."""
    module = importlib.import_module(ENGINES[check_engine_type(name)])
    cls: type[Any] = module.ENGINE
    return cls


def open_engine(settings: EngineSettings) -> Engine:
    """A session of the engine ``settings.type`` names; the caller closes it."""
    engine: Engine = engine_class(settings.type)(settings)
    return engine


def file_loading(engine: Engine, needed_for: str) -> FileLoading:
    """``engine`` as a :class:`~portrait.engine.FileLoading` engine, or a :class:`ConfigError`
    saying that ``needed_for`` needs it and which engines have it."""
    if isinstance(engine, FileLoading):
        return engine
    raise missing_capability(engine, FileLoading, needed_for)


def missing_capability(engine: Engine, capability: type[Any], needed_for: str) -> ConfigError:
    """The error for ``engine`` lacking ``capability`` (a capability protocol), naming the
    registered engines that have it."""
    able = []
    for name in ENGINES:
        try:
            if issubclass(engine_class(name), capability):
                able.append(name)
        except ImportError:  # an engine whose extra is not installed
            continue
    return ConfigError(
        f"{needed_for} needs an engine with the {capability.__name__} capability; "
        f"the engine '{engine.name}' does not have it",
        where="engine.type",
        hint=(
            "set engine.type to " + " or ".join(f"'{n}'" for n in able)
            if able
            else "no installed engine has it"
        ),
    )
