"""``portrait ingest`` on the command line: mapping, file format, several files, rejected rows,
JSON reports; bad input exits 2 with an error and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portrait.errors import BusyError, IngestError, InputError, PortraitError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import assert_untouched, cli, users_parquet, write

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_cli_ingest_with_mapping_and_json_report(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "members.csv", "member_no,age\nm1,30\nm2,40\n")
    args = ["ingest", "users", str(path), "-w", str(ws.root), "--map", "user_id=member_no"]

    result = cli(*args, "--format", "json", "-q")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["table"] == "users"
    assert report["file"] == str(path)
    assert (report["rows_read"], report["rows_loaded"], report["new_users"]) == (2, 2, 2)
    assert (report["already_ingested"], report["warehouse_version"]) == (False, "000001")
    assert [u["user_id"] for u in users_parquet(ws)] == ["m1", "m2"]

    again = cli(*args, "--format", "json", "-q")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_ingested"] is True
    assert ws.warehouse.version == "000001"


def test_cli_file_format_option(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "export.dat", "user_id,age\nu1,30\n")
    result = cli(
        "ingest", "users", str(path), "-w", str(ws.root), "--file-format", "csv", "-f", "json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows_loaded"] == 1


def test_cli_several_files(ws: Workspace, tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "user_id\nu1\nu2\n")
    b = write(tmp_path / "b.csv", "user_id\nu2\nu3\n")
    result = cli("ingest", "users", str(a), str(b), "-w", str(ws.root), "-f", "json", "-q")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [(r["file"], r["rows_loaded"], r["new_users"]) for r in reports] == [
        (str(a), 2, 2),
        (str(b), 2, 1),
    ]
    assert [(u["uid"], u["user_id"]) for u in users_parquet(ws)] == [
        (0, "u1"),
        (1, "u2"),
        (2, "u3"),
    ]


def test_cli_reports_rejected_rows(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.csv",
        "user_id,ts,event\nu1,2026-10-01 00:00:00,view\nu2,abc,view\n",
    )
    result = cli("ingest", "events", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 0, result.stderr
    assert "rejected events.csv row 2, column 'ts'" in result.stderr
    rejects = list(ws.layout.rejects_dir.iterdir())
    assert len(rejects) == 1
    assert f"rejected rows written to {rejects[0]}" in result.stderr
    assert ws.warehouse.tables["events"].rows == 1


@pytest.mark.parametrize(
    ("files", "text", "options", "expected"),
    [
        pytest.param(
            ["users.csv"],
            "name,age\nu1,3\n",
            [],
            ["users.csv: missing required column 'user_id'", "--map user_id="],
            id="missing-column",
        ),
        pytest.param(
            ["users.csv"],
            "member_no,age\nm1,3\n",
            ["--map", "user_id=member_id"],
            ["the file has no column 'member_id'", "member_no, age"],
            id="map-to-missing-column",
        ),
        pytest.param(
            ["users.csv"],
            "user_id\nu1\n",
            ["--map", "user_id"],
            ["bad column mapping 'user_id'", "TARGET=SOURCE"],
            id="bad-map-syntax",
        ),
        pytest.param(
            ["absent.csv"],
            "",
            [],
            ["absent.csv: file not found"],
            id="file-not-found",
        ),
        pytest.param(
            ["users.csv"],
            "user_id,age\nu1,30\nu1,31\n",
            ["--on-error", "fail"],
            ["nothing was loaded", "users.csv row 2, column 'user_id'", "--on-error reject"],
            id="on-error-fail",
        ),
        pytest.param(
            ["users.csv"],
            "user_id\nu1\n",
            ["--file-format", "xlsx"],
            ["unknown format 'xlsx'"],
            id="unknown-file-format",
        ),
    ],
)
def test_cli_bad_input_exits_2_without_traceback(
    ws: Workspace,
    tmp_path: Path,
    files: list[str],
    text: str,
    options: list[str],
    expected: list[str],
) -> None:
    if text:
        write(tmp_path / files[0], text)
    paths = [str(tmp_path / f) for f in files]
    result = cli("ingest", "users", *paths, "-w", str(ws.root), "-q", *options)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    for piece in expected:
        assert piece in result.stderr
    assert result.stdout == ""
    assert_untouched(ws, "none", {})


def test_cli_unknown_table_exits_2(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id\nu1\n")
    result = cli("ingest", "people", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown table 'people'")
    assert "Traceback" not in result.stderr


def test_cli_outside_a_workspace_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id\nu1\n")
    result = cli("ingest", "users", str(path), "-w", str(tmp_path / "nowhere"), "-q")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "not a Portrait workspace" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unknown_suffix_hint_names_the_file_format_option(
    ws: Workspace, tmp_path: Path
) -> None:
    path = write(tmp_path / "export.dat", "user_id\nu1\n")
    result = cli("ingest", "users", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 2
    assert "'.dat'" in result.stderr
    assert "--file-format" in result.stderr


def test_errors_are_portrait_errors() -> None:
    assert issubclass(IngestError, InputError)
    assert issubclass(InputError, PortraitError)
    assert issubclass(BusyError, PortraitError)
    assert IngestError("x").exit_code == 2
