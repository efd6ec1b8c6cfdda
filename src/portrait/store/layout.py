"""Where things live inside a workspace folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portrait.config import CONFIG_FILE, default_toml
from portrait.errors import WorkspaceError


@dataclass(frozen=True)
class Layout:
    """Paths of one workspace::

    portrait.toml     settings
    tags/             tag definitions, one YAML file per category
    warehouse/        ingested data, versioned (CURRENT names the live version)
    profile/          built profile, bitmap index and tag stats, versioned
    rejects/          rows rejected by ingest, one CSV per ingest
    meta/             metadata database and logs
    """

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def tags_dir(self) -> Path:
        return self.root / "tags"

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def profile_dir(self) -> Path:
        return self.root / "profile"

    @property
    def rejects_dir(self) -> Path:
        return self.root / "rejects"

    @property
    def meta_dir(self) -> Path:
        return self.root / "meta"

    @property
    def spill_dir(self) -> Path:
        """Scratch space for the engine when a step needs more than the memory limit."""
        return self.meta_dir / "spill"

    @property
    def lock_file(self) -> Path:
        return self.meta_dir / "write.lock"

    def is_workspace(self) -> bool:
        return self.config_file.is_file() and self.tags_dir.is_dir()

    def require(self) -> Layout:
        if not self.is_workspace():
            raise WorkspaceError(
                f"'{self.root}' is not a Portrait workspace (no {CONFIG_FILE} and tags/ folder)",
                hint="create one with 'portrait init DIR', or pass --workspace / set PORTRAIT_WORKSPACE",
            )
        return self

    def create(self, settings: Mapping[str, Any] | None = None) -> None:
        """Create the folders and a commented ``portrait.toml`` (with ``settings`` set, by
        name); refuse to touch an existing one."""
        if self.config_file.exists():
            raise WorkspaceError(
                f"'{self.root}' is already a workspace", hint="pick another folder"
            )
        if self.root.exists() and any(self.root.iterdir()):
            raise WorkspaceError(
                f"'{self.root}' exists and is not empty", hint="init needs an empty or new folder"
            )
        text = default_toml(settings)  # a bad setting is refused before anything is made
        for path in (
            self.tags_dir,
            self.warehouse_dir,
            self.profile_dir,
            self.rejects_dir,
            self.meta_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)
        tmp = self.config_file.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.config_file)
