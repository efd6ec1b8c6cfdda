"""A built profile version as readers see it (light: no engine, no Arrow)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portrait.errors import WorkspaceError
from portrait.store.layout import Layout
from portrait.store.manifest import read_manifest
from portrait.store.versions import VersionedDir

PROFILE_FILE = "profile.parquet"
INDEX_DIR = "index"
ROLLUP_FILE = "rollup.parquet"
GROUPS_FILE = "rollup_groups.parquet"
ROLLUP_DIR = "rollup"


@dataclass(frozen=True)
class ProfileSnapshot:
    """One built profile version."""

    path: Path | None
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return self.path.name if self.path else "none"

    @property
    def profile_file(self) -> Path:
        if self.path is None:
            raise WorkspaceError("nothing has been built yet", hint="run 'portrait build'")
        return self.path / PROFILE_FILE

    @property
    def index_dir(self) -> Path:
        assert self.path is not None
        return self.path / INDEX_DIR

    @property
    def rollup_dir(self) -> Path | None:
        """The rollup index, when events were loaded at build time."""
        if self.path is None or not self.manifest.get("rollup"):
            return None
        return self.path / ROLLUP_DIR

    @property
    def rollup_file(self) -> Path | None:
        """The rollup table (Parquet), when events were loaded at build time."""
        if self.path is None or not self.manifest.get("rollup"):
            return None
        return self.path / ROLLUP_FILE

    @property
    def tags(self) -> dict[str, dict[str, Any]]:
        """Built tags in declaration order (name → fingerprint, type, stats, …)."""
        tags: dict[str, dict[str, Any]] = self.manifest.get("tags", {})
        return {n: tags[n] for n in self.manifest.get("columns", []) if n in tags}


def profile_dir(layout: Layout) -> VersionedDir:
    return VersionedDir(layout.profile_dir)


def profile_snapshot(layout: Layout) -> ProfileSnapshot:
    current = profile_dir(layout).current()
    return ProfileSnapshot(current, read_manifest(current))
