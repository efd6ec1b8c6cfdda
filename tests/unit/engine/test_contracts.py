"""The import contract that keeps DuckDB inside portrait.engine covers every other package."""

from __future__ import annotations

import tomllib
from pathlib import Path

import portrait

ROOT = Path(__file__).resolve().parents[3]


def test_the_duckdb_contract_names_every_package_but_the_engine() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c.get("forbidden_modules") == ["duckdb"]]
    package = Path(portrait.__file__).parent
    top_level = {
        f"portrait.{p.stem}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert set(contract["source_modules"]) == top_level - {"portrait.engine"}
