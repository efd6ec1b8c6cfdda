"""JSON manifests that describe one version of the warehouse or the profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from portrait.store.versions import write_atomic

MANIFEST = "manifest.json"


def read_manifest(version_dir: Path | None) -> dict[str, Any]:
    if version_dir is None:
        return {}
    path = version_dir / MANIFEST
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write_manifest(version_dir: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    write_atomic(version_dir / MANIFEST, text.encode())
