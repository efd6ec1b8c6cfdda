"""The profile: the tag build (a computer per tag kind), the event rollup, tag statistics and
the built versions readers open.

Names are imported on first use (PEP 562), so reading a built profile does not load the
engine, Arrow or the SQL compiler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portrait.profile.pipeline import BuildReport, build, load_tags, resolve_as_of
    from portrait.profile.versions import ProfileSnapshot, profile_dir, profile_snapshot

_WHERE = {
    "BuildReport": "pipeline",
    "build": "pipeline",
    "load_tags": "pipeline",
    "resolve_as_of": "pipeline",
    "ProfileSnapshot": "versions",
    "profile_dir": "versions",
    "profile_snapshot": "versions",
}

__all__ = [
    "BuildReport",
    "ProfileSnapshot",
    "build",
    "load_tags",
    "profile_dir",
    "profile_snapshot",
    "resolve_as_of",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'portrait.profile' has no attribute {name!r}")
    return getattr(importlib.import_module(f"portrait.profile.{module}"), name)
