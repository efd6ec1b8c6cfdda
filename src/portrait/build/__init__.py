"""Capabilities that load and compute data: ingest and the tag build.

Names are imported on first use (PEP 562), so reading a built profile does not load the
engine, Arrow or the SQL compiler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portrait.build.built import ProfileSnapshot, profile_dir, profile_snapshot
    from portrait.build.ingestion import IngestReport, ingest
    from portrait.build.readers import parse_mapping
    from portrait.build.tagbuild import BuildReport, build, load_tags, resolve_as_of
    from portrait.build.warehouse import WarehouseSnapshot, snapshot

_WHERE = {
    "IngestReport": "ingestion",
    "ingest": "ingestion",
    "parse_mapping": "readers",
    "BuildReport": "tagbuild",
    "build": "tagbuild",
    "load_tags": "tagbuild",
    "resolve_as_of": "tagbuild",
    "ProfileSnapshot": "built",
    "profile_dir": "built",
    "profile_snapshot": "built",
    "WarehouseSnapshot": "warehouse",
    "snapshot": "warehouse",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'portrait.build' has no attribute {name!r}")
    return getattr(importlib.import_module(f"portrait.build.{module}"), name)
