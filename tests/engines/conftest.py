"""The engine suite: every test here runs once per registered engine type (``engine_type``),
so an engine joins the registry and passes this suite, or says here what it lacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portrait.config import Config, load_config
from portrait.engine import Engine, FileLoading, engine_types, file_loading, open_engine
from portrait.engine import settings_from_config as engine_settings
from portrait.errors import ConfigError

#: Capabilities an engine type knowingly lacks (Ibis' ``notimpl``): its tests of them check
#: the capability error instead, and fail when the engine gains the capability (update this).
LACKS: dict[str, set[type]] = {}


def engine_config(engine_type: str, **settings: object) -> Config:
    """Workspace settings choosing ``engine_type`` (no file, no environment)."""
    return load_config(None, environ={}, overrides={"engine.type": engine_type, **settings})


@pytest.fixture(scope="module", params=engine_types())
def engine_type(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def engine(engine_type: str, tmp_path: Path) -> Iterator[Engine]:
    """A session of the engine, its time zone for input files Asia/Shanghai (UTC+8), so a
    session that used it for queries would be found out."""
    config = engine_config(engine_type, **{"data.timezone": "Asia/Shanghai"})
    session = open_engine(engine_settings(config, tmp_path / "spill"))
    yield session
    session.close()


@pytest.fixture
def loading(engine: Engine, engine_type: str) -> FileLoading:
    """The engine's file loading (what ingest needs)."""
    if FileLoading in LACKS.get(engine_type, set()):
        assert not isinstance(engine, FileLoading), f"{engine_type} loads files now: update LACKS"
        with pytest.raises(ConfigError, match="FileLoading capability"):
            file_loading(engine, "ingest")
        pytest.skip(f"the {engine_type} engine cannot load files (known)")
    return file_loading(engine, "the engine suite")
