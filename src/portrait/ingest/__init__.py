"""Ingest: validate data files and load them into the warehouse, atomically and idempotently
(readers, row validation, dense user ids, the warehouse swap).

Names are imported on first use (PEP 562), so reading a built profile does not load the
engine or Arrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portrait.ingest.pipeline import IngestReport, ingest
    from portrait.model.schema import parse_mapping

_WHERE = {
    "IngestReport": "portrait.ingest.pipeline",
    "ingest": "portrait.ingest.pipeline",
    "parse_mapping": "portrait.model.schema",
}

__all__ = ["IngestReport", "ingest", "parse_mapping"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'portrait.ingest' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
