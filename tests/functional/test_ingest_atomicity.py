"""Nothing lost: a second writer is refused while the workspace write lock is held, and an
ingest killed half-way leaves the live version as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import portrait
from portrait.errors import BusyError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import (
    assert_untouched,
    cli,
    numbered_versions,
    staging_dirs,
    table_rows,
    write,
)

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


HOLD_LOCK = """
import sys
from pathlib import Path
from portrait.store.versions import workspace_lock
with workspace_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_writer_is_refused_while_the_lock_is_held(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "seed.csv", "user_id\nz1\n"))
    path = write(tmp_path / "users.csv", "user_id\nu1\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ws.layout.lock_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"

        with pytest.raises(BusyError) as err:
            ws.ingest("users", path)
        assert "another ingest or build" in err.value.message
        assert err.value.exit_code == 1

        result = cli("ingest", "users", str(path), "-w", str(ws.root), "-q")
        assert result.returncode == 1
        assert result.stderr.startswith("error: ")
        assert "another ingest or build" in result.stderr
        assert "Traceback" not in result.stderr
        assert_untouched(ws, "000001", {"users": 1})
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0

    report = ws.ingest("users", path)
    assert (report.new_users, report.warehouse_version) == (1, "000002")


KILL_ROWS = 1_500_000


INGEST_SCRIPT = "import sys, portrait; portrait.open(sys.argv[1]).ingest('events', sys.argv[2])"


@pytest.mark.slow
def test_an_ingest_killed_half_way_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("users", write(tmp_path / "users.csv", "user_id,age\nu1,30\nu2,40\n"))
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event\nu1,2026-10-01,a\n"))
    before = ws.warehouse
    assert before.version == "000002"
    rows_before = {n: t.rows for n, t in before.tables.items()}
    assert rows_before == {"users": 2, "events": 1}

    big = tmp_path / "big.parquet"
    con = duckdb.connect()
    try:
        con.execute(
            "COPY (SELECT 'u' || (i % 50000) AS user_id, "
            "TIMESTAMP '2026-01-01' + to_seconds((i * 7919) % 20000000) AS ts, "
            "'ev' || (i % 7) AS event, md5(CAST(i AS VARCHAR)) AS token "
            f"FROM range({KILL_ROWS}) t(i)) TO '{big}' (FORMAT parquet)"
        )
    finally:
        con.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env["PORTRAIT_ENGINE_THREADS"] = "1"  # a slower write, and a core left for this process
    proc = subprocess.Popen(
        [sys.executable, "-c", INGEST_SCRIPT, str(ws.root), str(big)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    staging: list[Path] = []
    try:
        deadline = time.monotonic() + 90
        while not staging and proc.poll() is None and time.monotonic() < deadline:
            staging = staging_dirs(ws)
            time.sleep(0.001)
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=30)

    assert staging, f"no staging folder seen (exit {proc.returncode}): {stderr[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    assert staging_dirs(ws), "the killed ingest should have left its staging folder"

    after = portrait.open(ws.root).warehouse
    assert after.version == "000002"
    assert (ws.layout.warehouse_dir / "CURRENT").read_text(encoding="utf-8").strip() == "000002"
    assert {n: t.rows for n, t in after.tables.items()} == rows_before
    assert after.tables == before.tables
    assert numbered_versions(ws) == ["000001", "000002"]
    assert [r["event"] for r in table_rows(ws, "events", "ts")] == ["a"]

    report = ws.ingest("events", write(tmp_path / "e2.csv", "user_id,ts,event\nu2,2026-10-02,b\n"))
    assert report.warehouse_version == "000003"
    assert staging_dirs(ws) == []
    assert {n: t.rows for n, t in ws.warehouse.tables.items()} == {"users": 2, "events": 2}
    assert [r["event"] for r in table_rows(ws, "events", "ts")] == ["a", "b"]
