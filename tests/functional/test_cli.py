"""The command line through a real subprocess: outputs in every format, errors for people."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
    assert summary["users"] == 1500 and summary["tags_built"] == 47
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


# -- in-process (click's CliRunner): errors, JSON output, help ---------------------------------
def invoke(*args: str) -> Any:
    """Run ``portrait ARGS`` in this process; the result has exit_code, stdout and stderr."""
    from typer.testing import CliRunner

    from portrait.cli.app import app

    return CliRunner().invoke(app, list(args))


def json_error(result: Any) -> dict[str, Any]:
    """The one JSON error object a failed ``--format json`` command wrote, checked."""
    assert result.exit_code in (1, 2), (result.exit_code, result.output)
    assert result.stdout == "", result.stdout
    document = json.loads(result.stderr)
    assert list(document) == ["error"], document
    error: dict[str, Any] = document["error"]
    assert {"code", "message", "where", "hint"} <= set(error), error
    assert isinstance(error["code"], str) and error["message"]
    return error


def test_a_window_of_99999999_days_is_a_rule_error_not_a_traceback(small_ws: Workspace) -> None:
    ws = str(small_ws.root)
    run("build", "-w", ws, "-q")
    for extra in ([], ["--sql"]):
        result = invoke("count", 'events("search", last="99999999d") >= 1', *extra, "-w", ws)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert 'last="99999999d"' in result.stderr
        assert "at most 36,525 days (100 years)" in result.stderr
        assert "Traceback" not in result.output and "OverflowError" not in result.output
    ok = invoke("count", 'events("search", last="36525d") >= 1', "-w", ws, "-f", "json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["size"] == 1


def test_rule_errors_name_the_bad_escape_and_never_echo_a_huge_rule(small_ws: Workspace) -> None:
    ws = str(small_ws.root)
    run("build", "-w", ws, "-q")
    escape = invoke("count", 'city = "北京\\x"', "-w", ws)
    assert escape.exit_code == 2
    assert "rule, line 1, column 11: bad escape \\x in a string" in escape.stderr
    assert "Invalid" not in escape.stderr and "char" not in escape.stderr
    huge = 'city = "' + "x" * 25_000 + '"'
    too_long = invoke("count", huge, "-w", ws)
    assert too_long.exit_code == 2
    assert "25,009 characters long; rules are at most 20,000 characters" in too_long.stderr
    assert len(too_long.stderr) < 500
    almost = 'city = "' + "x" * 19_000 + '"'
    unknown_value = invoke("count", almost, "-w", ws)
    assert unknown_value.exit_code == 2 and "has no value" in unknown_value.stderr
    assert len(unknown_value.stderr) < 600 and "…" in unknown_value.stderr
    created = invoke("segment", "create", "big", almost, "-w", ws)
    assert created.exit_code == 2 and len(created.stderr) < 600


def test_with_format_json_an_error_is_one_json_object(small_ws: Workspace) -> None:
    ws = str(small_ws.root)
    (small_ws.root / "tags" / "broken.yaml").write_text("tags: [ {name: x\n", encoding="utf-8")
    error = json_error(invoke("tags", "list", "-w", ws, "-f", "json"))
    assert error["code"] == "bad_tag_definition" and "broken.yaml" in error["where"]
    assert "not valid YAML" in error["message"]
    assert json_error(invoke("tags", "list", "-w", ws, "--format=json"))["code"] == (
        "bad_tag_definition"
    )
    (small_ws.root / "tags" / "broken.yaml").unlink()
    run("build", "-w", ws, "-q")
    rule = json_error(invoke("count", "city ==", "-w", ws, "-f", "json"))
    assert rule["code"] == "bad_rule" and (rule["line"], rule["column"]) == (1, 7)
    usage = json_error(invoke("count", "-w", ws, "-f", "json"))
    assert usage == {
        "code": "bad_input",
        "message": "Missing argument 'rule'.",
        "where": "portrait count",
        "hint": "see portrait count --help",
    }
    assert json_error(invoke("tags", "list", "--bogus", "-f", "json"))["code"] == "bad_input"
    # without --format json errors stay text for people
    text = invoke("tags", "show", "agee", "-w", ws)
    assert text.exit_code == 2 and text.stderr.startswith("error:")


def _commands_with_format() -> list[tuple[list[str], Any]]:
    import typer

    from portrait.cli.app import app

    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        if any("--format" in p.opts for p in command.params if hasattr(p, "opts")):
            found.append((path, command))
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_every_command_with_format_json_reports_errors_as_json(tmp_path: Path) -> None:
    """Each command that takes --format, run on a folder that is not a workspace (the demo on
    a folder that is not empty), writes one JSON error object and nothing on stdout."""
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    commands = _commands_with_format()
    assert len(commands) > 30
    for path, command in commands:
        args = list(path)
        for param in command.params:
            if getattr(param, "param_type_name", None) == "argument" and param.required:
                args.append("1")  # a name, a path or a number alike
            elif getattr(param, "required", False):
                args += [param.opts[0], "1"]
        if path == ["demo"]:
            args[1:] = [str(tmp_path)]
        else:
            args += ["-w", str(tmp_path / "nowhere")]
        error = json_error(invoke(*args, "-f", "json"))
        assert error["code"] in ("bad_workspace", "bad_input"), (path, error)


def test_association_rules_as_json_have_item_arrays_and_null_for_infinite_conviction(
    small_ws: Workspace, tmp_path: Path
) -> None:
    more = tmp_path / "more.csv"
    more.write_text(
        "user_id,ts,event,car_brand\n"
        "u3,2026-10-30 10:00:00,view,宝马\n"
        "u3,2026-10-30 11:00:00,view,奥迪\n"
        "u3,2026-10-30 12:00:00,view,大众\n",
        encoding="utf-8",
    )
    small_ws.ingest("events", more)
    ws = str(small_ws.root)
    run("build", "-w", ws, "-q")
    args = ["rules", "--basket", "events:view", "--item", "car_brand", "--min-support", "0.01"]
    result = invoke(*args, "--min-confidence", "0", "--top", "0", "-w", ws, "-f", "json")
    assert result.exit_code == 0, result.output

    def no_infinity(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    rules = json.loads(result.stdout, parse_constant=no_infinity)
    by_items = {(tuple(r["antecedent"]), tuple(r["consequent"])): r for r in rules}
    never_fails = by_items[(("奥迪",), ("宝马",))]  # every basket with 奥迪 holds 宝马
    assert never_fails["confidence"] == 1.0 and never_fails["conviction"] is None
    pair = by_items[(("奥迪", "宝马"), ("大众",))]
    assert pair["confidence"] == 0.5 and pair["conviction"] == pytest.approx(2 / 3)
    recommended = invoke("rules", "recommend", "奥迪", *args[1:], "-w", ws, "-f", "json")
    assert recommended.exit_code == 0
    assert {r["consequent"][0] for r in json.loads(recommended.stdout)} >= {"宝马"}
    csv_rows = list(csv.DictReader(io.StringIO(invoke(*args, "-w", ws, "-f", "csv").stdout)))
    assert {"奥迪|宝马", "宝马"} <= {r["antecedent"] for r in csv_rows}
    assert "奥迪 + 宝马" in invoke(*args, "--min-confidence", "0", "-w", ws).stdout


WORKFLOW = [
    "init", "demo", "ingest", "build", "status", "tags", "profile", "count", "segment", "ids",
    "insight", "cross", "user", "rfm", "rank", "niche", "subgroups", "persona", "cube",
    "rules",
    "campaign", "config", "db", "keys", "users",
    "serve", "audit",
]  # fmt: skip


def test_help_lists_the_commands_in_the_order_of_the_work() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    listing = result.stdout.split("Commands:\n", 1)[1].splitlines()
    names = [line.split()[0] for line in listing if line.strip()]
    assert names == WORKFLOW
    for line in listing:  # one line each: a short summary, not cut off nor wrapped
        assert line.startswith("  ") and not line.startswith("   "), line
        assert not line.endswith("..."), line
    cli_md = (Path(__file__).parent.parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    table = [
        line.split("`")[1].split()[1] for line in cli_md.splitlines() if line.startswith("| [`")
    ]
    assert list(dict.fromkeys(table)) == WORKFLOW  # the reference lists them in that order


def test_every_help_is_plain_text() -> None:
    """No reStructuredText markup (``kind: rfm``) and no lines broken where the source was."""
    for path, _command in [([], None), *[(p, c) for p, c in _all_commands()]]:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "``" not in result.stdout, (path, result.stdout)
        assert "Usage:" in result.stdout
        paragraphs = result.stdout.split("\n\n")
        for paragraph in paragraphs[1:2]:  # the help text, wrapped to the terminal
            lines = paragraph.splitlines()
            assert all(len(line) <= 80 for line in lines), (path, paragraph)


def _all_commands() -> list[tuple[list[str], Any]]:
    import typer

    from portrait.cli.app import app

    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        if path:
            found.append((path, command))
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found
