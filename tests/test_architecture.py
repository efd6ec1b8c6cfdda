"""ARCHITECTURE.md names only what exists: every module file and every ``package.module.name``
it mentions resolves in the source tree (the map must not drift from the code)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import portrait
from portrait.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(portrait.__file__).parent
TEXT = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
TOKENS = re.findall(r"`([^`\s]+)`", TEXT)
PACKAGES = {p.name for p in SOURCE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
PACKAGES |= {p.stem for p in SOURCE.glob("*.py")}


def _resolves(dotted: str) -> bool:
    """``dotted`` (``portrait.`` optional) is a module, or an attribute chain of one."""
    parts = dotted.removeprefix("portrait.").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module("portrait." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_module_file_named_exists() -> None:
    files = {t.rstrip(",") for t in TOKENS if t.endswith(".py") and "<" not in t}
    assert len(files) > 40
    sources = [p.relative_to(SOURCE).as_posix() for p in SOURCE.rglob("*.py")]
    missing = sorted(f for f in files if not any(s == f or s.endswith("/" + f) for s in sources))
    assert missing == []


def test_every_dotted_name_resolves() -> None:
    settings = {s.name for s in SETTINGS}
    dotted = {
        t.rstrip(",")
        for t in TOKENS
        if re.fullmatch(r"[a-z_]+(\.[A-Za-z_]+)+", t.rstrip(","))
        and t.removeprefix("portrait.").split(".")[0] in PACKAGES
        and not t.endswith((".py", ".parquet"))
        and t not in settings
    }
    assert len(dotted) > 40
    assert sorted(d for d in dotted if not _resolves(d)) == []
