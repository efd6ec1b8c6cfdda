"""The engine registry: engine types by name (checked, with a helpful message), their settings
from the workspace settings, lazily imported modules, and capabilities asked for by name."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest

import portrait
from portrait.config import load_config
from portrait.engine import (
    DuckDBSettings,
    Engine,
    EngineSettings,
    FileLoading,
    default_settings,
    engine_types,
    file_loading,
    open_engine,
    settings_from_config,
)
from portrait.engine.registry import ENGINES, engine_class
from portrait.errors import ConfigError


def test_every_registered_type_has_settings_and_an_implementation() -> None:
    union = typing.get_args(EngineSettings)[0]
    classes = typing.get_args(union) or (union,)
    tags = {c.model_fields["type"].default for c in classes}
    assert tags == set(ENGINES) == set(engine_types())
    assert engine_types()[0] == "duckdb"  # the default
    for name in ENGINES:
        assert engine_class(name).name == name


def test_settings_come_from_the_workspace_settings(tmp_path: Path) -> None:
    config = load_config(
        None,
        environ={"PORTRAIT_ENGINE_THREADS": "2"},
        overrides={"engine.memory_limit": "1GB", "data.timezone": "Asia/Shanghai"},
    )
    settings = settings_from_config(config, tmp_path / "spill")
    assert settings == DuckDBSettings(
        threads=2, memory_limit="1GB", timezone="Asia/Shanghai", spill_directory=tmp_path / "spill"
    )
    assert default_settings() == DuckDBSettings()


def test_an_engine_module_is_imported_when_an_engine_is_opened() -> None:
    code = (
        "import sys; import portrait.engine as e; "
        "before = {'duckdb', 'portrait.engine.duckdb'} & set(sys.modules); "
        "e.open_engine(e.default_settings()).close(); "
        "print(sorted(before), 'portrait.engine.duckdb' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[] True"


@pytest.mark.parametrize(
    ("environ", "overrides", "where"),
    [
        ({"PORTRAIT_ENGINE_TYPE": "duckbd"}, {}, "$PORTRAIT_ENGINE_TYPE"),
        ({}, {"engine.type": "duckbd"}, "command line"),
    ],
)
def test_an_unknown_engine_type_names_the_known_ones(
    environ: dict[str, str], overrides: dict[str, str], where: str
) -> None:
    config = load_config(None, environ=environ, overrides=overrides)
    with pytest.raises(ConfigError) as info:
        settings_from_config(config)
    assert str(info.value) == (
        f"{where}: unknown engine 'duckbd' for setting 'engine.type'\n"
        "hint: did you mean 'duckdb'? (engines: duckdb)"
    )
    assert info.value.exit_code == 2


def test_an_unknown_engine_type_in_the_workspace_file(tmp_path: Path) -> None:
    ws = portrait.init(tmp_path / "ws")
    ws.layout.config_file.write_text('[engine]\ntype = "spark"\n', encoding="utf-8")
    (tmp_path / "users.csv").write_text("user_id\nu1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        portrait.open(ws.root).ingest("users", tmp_path / "users.csv")
    assert info.value.where == str(ws.layout.config_file)
    assert info.value.message == "unknown engine 'spark' for setting 'engine.type'"
    assert info.value.hint == "engines: duckdb"


def test_an_engine_type_must_look_like_a_name() -> None:
    with pytest.raises(ConfigError, match="expected an engine name such as duckdb"):
        load_config(None, environ={"PORTRAIT_ENGINE_TYPE": "Duck DB"})


class _QueriesOnly:
    """An engine without capabilities (the Engine methods only)."""

    name = "queries-only"
    dialect = "duckdb"

    def register_parquet(self, name: str, paths: list[Path]) -> None: ...
    def register_arrow(self, name: str, table: object) -> None: ...
    def create_view(self, name: str, query: object) -> None: ...
    def columns(self, name: str) -> dict[str, str]:
        return {}

    def materialize(self, name: str, query: object) -> int:
        return 0

    def to_arrow(self, query: object) -> object: ...
    def to_parquet(self, query: object, path: Path) -> int:
        return 0

    def close(self) -> None: ...


def test_a_missing_capability_is_a_clear_error() -> None:
    engine = _QueriesOnly()
    assert isinstance(engine, Engine) and not isinstance(engine, FileLoading)
    with pytest.raises(ConfigError) as info:
        file_loading(engine, "ingest")  # type: ignore[arg-type]
    assert str(info.value) == (
        "engine.type: ingest needs an engine with the FileLoading capability; the engine "
        "'queries-only' does not have it\nhint: set engine.type to 'duckdb'"
    )
    duckdb = open_engine(default_settings())
    try:
        assert file_loading(duckdb, "ingest") is duckdb
    finally:
        duckdb.close()
