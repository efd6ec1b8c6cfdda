"""A built profile version as readers see it (light: no engine, no Arrow)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from portrait.errors import WorkspaceError
from portrait.model.manifests import BuiltTag, ProfileManifest
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
    manifest: ProfileManifest

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
        if self.path is None or self.manifest.rollup is None:
            return None
        return self.path / ROLLUP_DIR

    @property
    def rollup_file(self) -> Path | None:
        """The rollup table (Parquet), when events were loaded at build time."""
        if self.path is None or self.manifest.rollup is None:
            return None
        return self.path / ROLLUP_FILE

    @property
    def tags(self) -> Mapping[str, BuiltTag]:
        """Built tags in profile column order."""
        return self.manifest.tags

    @property
    def as_of(self) -> dt.date | None:
        return self.manifest.as_of

    @property
    def users(self) -> int:
        """Users in the profile (its rows; dense ids are 0 … users − 1)."""
        return self.manifest.users


def profile_dir(layout: Layout) -> VersionedDir:
    return VersionedDir(layout.profile_dir)


def profile_snapshot(layout: Layout) -> ProfileSnapshot:
    current = profile_dir(layout).current()
    return ProfileSnapshot(current, ProfileManifest.from_json(read_manifest(current)))
