"""Capabilities that load and compute data: ingest and the tag build."""

from portrait.build.ingest import IngestReport, ingest
from portrait.build.readers import parse_mapping
from portrait.build.tagbuild import (
    BuildReport,
    ProfileSnapshot,
    build,
    load_tags,
    profile_dir,
    profile_snapshot,
    resolve_as_of,
)
from portrait.build.warehouse import WarehouseSnapshot, snapshot

__all__ = [
    "BuildReport",
    "IngestReport",
    "ProfileSnapshot",
    "WarehouseSnapshot",
    "build",
    "ingest",
    "load_tags",
    "parse_mapping",
    "profile_dir",
    "profile_snapshot",
    "resolve_as_of",
    "snapshot",
]
