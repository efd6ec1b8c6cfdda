"""Helpers of the ingest tests: write input files, read the live warehouse back, run the CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

import portrait
from portrait.workspace import Workspace

PORTRAIT = Path(sys.executable).parent / "portrait"
REJECT_COLUMNS = ["_file", "_row", "_column", "_error"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def table_rows(ws: Workspace, table: str, order_by: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in the live warehouse version, as dicts."""
    snap = ws.warehouse
    assert snap.path is not None
    files = [str(snap.path / f) for f in snap.tables[table].files]
    con = duckdb.connect()
    try:
        cur = con.execute(
            f"SELECT * FROM read_parquet(?, union_by_name = true) ORDER BY {order_by}", [files]
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def users_parquet(ws: Workspace) -> list[dict[str, Any]]:
    """The users file, read directly from ``warehouse/<version>/users/users.parquet``."""
    snap = ws.warehouse
    assert snap.path is not None
    rows: list[dict[str, Any]] = (
        pq.read_table(snap.path / "users/users.parquet").sort_by("uid").to_pylist()
    )
    return rows


def read_rejects(path: str | None) -> tuple[list[str], list[dict[str, str]]]:
    assert path is not None
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def numbered_versions(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.layout.warehouse_dir.iterdir() if p.name.isdigit())


def staging_dirs(ws: Workspace) -> list[Path]:
    return sorted(ws.layout.warehouse_dir.glob(".staging-*"))


def assert_untouched(ws: Workspace, version: str, rows: dict[str, int]) -> None:
    """The live version, the version folders and every table's row count are as before."""
    snap = portrait.open(ws.root).warehouse
    assert snap.version == version
    assert {n: t.rows for n, t in snap.tables.items()} == rows
    expected = [] if version == "none" else [f"{i:06d}" for i in range(1, int(version) + 1)]
    assert numbered_versions(ws) == expected
    assert staging_dirs(ws) == []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env.update({"COLUMNS": "250", "NO_COLOR": "1"})
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [str(PORTRAIT), *args], capture_output=True, text=True, check=False, env=env, timeout=60
    )


def set_timezone(ws: Workspace, zone: str) -> Workspace:
    """Write ``data.timezone`` into portrait.toml and reopen the workspace."""
    text = ws.layout.config_file.read_text(encoding="utf-8")
    assert '# timezone = "UTC"' in text  # init writes the defaults commented out
    ws.layout.config_file.write_text(
        text.replace('# timezone = "UTC"', f'timezone = "{zone}"'), encoding="utf-8"
    )
    reopened = portrait.open(ws.root)
    assert reopened.config["data.timezone"] == zone
    return reopened
