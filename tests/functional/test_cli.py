"""The command line through a real subprocess: outputs in every format, errors for people."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from portrait.workspace import Workspace

PORTRAIT = str(Path(sys.executable).parent / "portrait")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([PORTRAIT, *args], capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_init_ingest_build_and_catalog(small_ws: Workspace) -> None:
    ws = str(small_ws.root)
    out = json.loads(run("build", "-w", ws, "--format", "json").stdout)
    assert out["users"] == 4 and len(out["computed"]) == 13
    tags = json.loads(run("tags", "list", "-w", ws, "-f", "json").stdout)
    by_name = {t["name"]: t for t in tags}
    assert by_name["age"]["coverage"] == 0.75
    assert by_name["cars"]["type"] == "list<string>"
    shown = json.loads(run("tags", "show", "age_band", "-w", ws, "-f", "json").stdout)
    assert shown["distinct"] == 3
    assert "CASE" in shown["sql"]
    assert {d["value"]: d["count"] for d in shown["distribution"]} == {
        "20-30": 1,
        "30-40": 1,
        "60+": 1,
    }
    table = run("tags", "show", "cars", "-w", ws).stdout
    assert "ROW_NUMBER" in table and "coverage" in table
    spark = run("tags", "show", "searches_7d", "-w", ws, "--dialect", "spark", "-f", "json")
    assert (
        "COUNT_IF" in json.loads(spark.stdout)["sql"] or "FILTER" in json.loads(spark.stdout)["sql"]
    )
    only = json.loads(run("tags", "list", "-w", ws, "--category", "nope", "-f", "json").stdout)
    assert only == []
    rows = list(csv.DictReader(io.StringIO(run("tags", "list", "-w", ws, "-f", "csv").stdout)))
    assert [r["name"] for r in rows][:3] == ["gender", "age", "city"]
    status = json.loads(run("status", "-w", ws, "-f", "json").stdout)
    assert status["tables"]["events"]["rows"] == 10 and status["as_of"] == "2026-10-31"


def test_profile_export(small_ws: Workspace, tmp_path: Path) -> None:
    ws = str(small_ws.root)
    run("build", "-w", ws, "-q")
    rows = json.loads(run("profile", "-w", ws, "--columns", "city,cars", "-f", "json").stdout)
    assert rows[0] == {"user_id": "u1", "city": "北京", "cars": ["宝马", "奥迪"]}
    out = tmp_path / "p.csv"
    run("profile", "-w", ws, "--output", str(out))
    exported = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(exported) == 4 and exported[0]["cars"] == "宝马|奥迪"


def test_workspace_from_environment(small_ws: Workspace) -> None:
    result = subprocess.run(
        [PORTRAIT, "status", "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
        env={"PORTRAIT_WORKSPACE": str(small_ws.root), "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(result.stdout)["tables"]["users"]["rows"] == 4


def test_errors_are_for_people(tmp_path: Path, small_ws: Workspace) -> None:
    not_ws = run("status", "-w", str(tmp_path), check=False)
    assert not_ws.returncode == 2
    assert "not a Portrait workspace" in not_ws.stderr and "Traceback" not in not_ws.stderr
    missing = run("tags", "show", "agee", "-w", str(small_ws.root), check=False)
    assert missing.returncode == 2 and "did you mean 'age'" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n", encoding="utf-8")
    ingest = run("ingest", "users", str(bad), "-w", str(small_ws.root), check=False)
    assert ingest.returncode == 2
    assert "missing required column 'user_id'" in ingest.stderr
    assert "--map user_id=" in ingest.stderr
    mapped = run("ingest", "users", str(bad), "-w", str(small_ws.root), "--map", "user_id=id")
    assert "1" in mapped.stdout
    exists = run("init", str(small_ws.root), check=False)
    assert exists.returncode == 2 and "already a workspace" in exists.stderr


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["init", "--help"],
        ["demo", "--help"],
        ["ingest", "--help"],
        ["build", "--help"],
        ["tags", "list", "--help"],
        ["tags", "show", "--help"],
        ["profile", "--help"],
        ["status", "--help"],
        ["config", "--help"],
    ):
        result = run(*args)
        assert "Usage" in result.stdout


def test_demo_command(tmp_path: Path) -> None:
    out = run("demo", str(tmp_path / "d"), "--users", "1500", "--seed", "3", "-f", "json", "-q")
    summary = json.loads(out.stdout)
    assert summary["users"] == 1500 and summary["tags_built"] == 42
    assert summary["as_of"] == "2026-10-31"
    assert summary["events"] > 1500 * 20


def test_error_text_keeps_brackets_and_dialects_are_checked(small_ws: Workspace) -> None:
    ws = str(small_ws.root)
    bad = run("tags", "show", "age", "-w", ws, "--dialect", "nosuch", check=False)
    assert bad.returncode == 2 and "unknown SQL dialect 'nosuch'" in bad.stderr
    (small_ws.root / "portrait.toml").write_text("engine = 3\n", encoding="utf-8")
    toml = run("status", "-w", ws, check=False)
    assert toml.returncode == 2 and "must be a [section]" in toml.stderr
    (small_ws.root / "portrait.toml").write_text('[engine]\nmemory_limit = "lots"\n')
    memory = run("build", "-w", ws, check=False)
    assert memory.returncode == 2 and "engine.memory_limit" in memory.stderr


def test_pii_tags_are_masked_unless_asked(small_ws: Workspace, tmp_path: Path) -> None:
    tags = small_ws.root / "tags" / "basic.yaml"
    tags.write_text(
        tags.read_text(encoding="utf-8").replace(
            "{name: city, kind: attribute}", "{name: city, kind: attribute, pii: true}"
        ),
        encoding="utf-8",
    )
    ws = str(small_ws.root)
    run("build", "-w", ws, "-q")
    masked = json.loads(run("profile", "-w", ws, "--columns", "city", "-f", "json").stdout)
    assert [r["city"] for r in masked] == ["****", "****", "****", "****"]
    plain = json.loads(
        run("profile", "-w", ws, "--columns", "city", "--unmask", "-f", "json").stdout
    )
    assert plain[0]["city"] == "北京"
    shown = json.loads(run("tags", "show", "city", "-w", ws, "-f", "json").stdout)
    assert {d["value"] for d in shown["distribution"]} == {"****"}
    out = tmp_path / "p.parquet"
    run("profile", "-w", ws, "--output", str(out))
    import pyarrow.parquet as pq

    assert set(pq.read_table(out).column("city").to_pylist()) == {"****"}


def test_catalog_before_any_data(tmp_path: Path) -> None:
    ws = tmp_path / "fresh"
    run("init", str(ws))
    (ws / "tags" / "basic.yaml").write_text(
        "tags:\n  - {name: city, kind: attribute}\n"
        "  - {name: n, kind: metric, from: events, agg: count}\n",
        encoding="utf-8",
    )
    rows = json.loads(run("tags", "list", "-w", str(ws), "-f", "json").stdout)
    assert [(r["name"], r["coverage"]) for r in rows] == [("city", None), ("n", None)]
    settings = json.loads(run("config", "-w", str(ws), "-f", "json").stdout)
    assert {s["source"] for s in settings} == {"default"}
