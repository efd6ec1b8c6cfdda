"""Engine settings: one class per engine ``type``, joined in the :data:`EngineSettings` union
keyed by ``type`` (as ``[channels.NAME]`` tables are in :mod:`portrait.model.channels`).

Each class pairs with the implementation module the registry names for its type
(:mod:`portrait.engine.registry`); :func:`portrait.engine.settings_from_config` builds one
from the workspace settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class DuckDBSettings(BaseModel):
    """The embedded DuckDB engine: in-process, one machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["duckdb"] = "duckdb"
    #: threads; 0 uses every core
    threads: int = Field(default=0, ge=0)
    #: memory limit such as "8GB"; empty uses DuckDB's default (80% of RAM)
    memory_limit: str = ""
    #: the time zone of input timestamps without an offset (file loading); queries run in UTC
    timezone: str = "UTC"
    #: where the engine spills intermediate data that does not fit in memory
    spill_directory: Path | None = None


#: The settings of any engine, told apart by ``type``. A Spark engine joins as
#: ``DuckDBSettings | SparkSettings``, with its module in the registry.
EngineSettings = Annotated[DuckDBSettings, Field(discriminator="type")]
