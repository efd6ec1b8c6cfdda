"""A file that cannot be read at all (or an ingest asked for wrongly: an unknown table, format
or ``--on-error``, a file that is not there) is refused with a message that says where and why.

DuckDB alone said ``CSV Error on Line: 2`` for a byte that is not UTF-8, and ``Line: 1`` with no
size for a 5 MB field on line 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portrait.errors import IngestError, InputError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import assert_untouched, write

PORTRAIT = Path(sys.executable).parent / "portrait"


pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env.update({"COLUMNS": "250", "NO_COLOR": "1"})
    return subprocess.run(
        [str(PORTRAIT), *args], capture_output=True, text=True, check=False, env=env, timeout=60
    )


def test_invalid_utf8_names_the_encoding_the_byte_offset_and_the_line(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "gbk.csv"
    head = b"user_id,ts,event\nu1,2026-10-01,view\n"
    path.write_bytes(head + b"u2,2026-10-01,\xc4\xe3\xba\xc3\nu3,2026-10-01,view\n")  # GBK 你好
    offset = len(head) + len(b"u2,2026-10-01,")

    result = cli("ingest", "events", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {path}: the file is not valid UTF-8: ")
    assert f"at byte offset {offset} (line 3)" in result.stderr
    assert "0xC4" in result.stderr
    assert "iconv" in result.stderr
    assert ws.warehouse.version == "none"


def test_invalid_utf8_in_json_lines(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    first = json.dumps({"user_id": "u1", "ts": "2026-10-01", "event": "view"}).encode() + b"\n"
    path.write_bytes(first + b'{"user_id": "u\xff2", "ts": "2026-10-01", "event": "view"}\n')
    with pytest.raises(IngestError) as err:
        ws.ingest("events", path)
    assert f"at byte offset {len(first) + 14} (line 2)" in err.value.message
    assert "UTF-8" in err.value.message


def test_an_over_long_field_names_its_line_its_length_and_the_limit(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "long.csv"
    path.write_text(
        "user_id,ts,event\nu1,2026-10-01,view\nu2,2026-10-01,view\n"
        f"u3,2026-10-01,{'x' * 5_000_000}\nu4,2026-10-01,view\n",
        encoding="utf-8",
    )
    result = cli("ingest", "events", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "line 4 is too long" in result.stderr
    assert "column 'event' holds 5,000,000 bytes" in result.stderr
    assert "limit of 2,000,000 bytes per line" in result.stderr
    assert ws.warehouse.version == "none"


def test_a_line_that_is_not_json_is_named(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"user_id": "u1", "ts": "2026-10-01", "event": "view"}\n\n'
        '{"user_id": "u2", "ts": "2026-10-01" "event": "view"}\n',
        encoding="utf-8",
    )
    with pytest.raises(IngestError) as err:
        ws.ingest("events", path)
    assert err.value.message.startswith("line 3 is not valid JSON: Expecting ',' delimiter")
    assert err.value.where == str(path)


def test_bad_arguments_are_input_errors(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id\nu1\n")
    with pytest.raises(InputError, match="unknown table 'people'"):
        ws.ingest("people", path)
    with pytest.raises(InputError, match="unknown format 'xlsx'"):
        ws.ingest("users", path, fmt="xlsx")
    with pytest.raises(InputError, match="unknown --on-error 'skip'"):
        ws.ingest("users", path, on_error="skip")
    with pytest.raises(IngestError, match="file not found") as err:
        ws.ingest("users", tmp_path / "nope.csv")
    assert err.value.where == str(tmp_path / "nope.csv")
    assert_untouched(ws, "none", {})


def test_unreadable_csv_is_a_whole_file_error(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "ragged.csv", "user_id,age\nu1,1,2,3\nu2\n")
    with pytest.raises(IngestError, match="cannot read the file as csv") as err:
        ws.ingest("users", path)
    assert err.value.where == str(path)
    assert str(err.value).startswith(f"{path}: ")
    assert_untouched(ws, "none", {})
