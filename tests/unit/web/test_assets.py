"""The vendored scripts are exactly what ``make assets`` writes from the pinned versions:
each file's SHA-256 matches the manifest, the manifest's versions match the pins in
``tools/web-assets/package.json`` (and its lock file), and every file has its licence."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PINS = ROOT / "tools" / "web-assets"
FOLDERS = [
    Path(str(resources.files("portrait.web"))) / "static" / "vendor",
    ROOT / "tests" / "browser" / "vendor",
]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.parent.name)
def test_vendored_files_match_their_manifest_and_the_pins(folder: Path) -> None:
    manifest = json.loads((folder / "vendor.json").read_text())
    pinned = json.loads((PINS / "package.json").read_text())["dependencies"]
    locked = json.loads((PINS / "package-lock.json").read_text())["packages"]
    assert manifest
    for name, entry in manifest.items():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{name} changed by hand"
        assert entry["version"] == pinned[entry["package"]], name
        assert locked[f"node_modules/{entry['package']}"]["version"] == entry["version"], name
        assert (folder / f"{entry['package']}.LICENSE.txt").stat().st_size > 300, name
    files = {p.name for p in folder.iterdir()} - {"vendor.json"}
    assert files == set(manifest) | {f"{e['package']}.LICENSE.txt" for e in manifest.values()}


def test_every_pin_is_exact() -> None:
    pinned = json.loads((PINS / "package.json").read_text())["dependencies"]
    for package, version in pinned.items():
        assert version[0].isdigit(), f"{package} is pinned to a range: {version}"
