"""Timestamps outside [ingest.min_time, ingest.max_time) are rejected at ingest, and a build
stays possible over data stored before that check.

An event at ``99999-01-01`` (CSV) or ``9999-12-31`` (Parquet) used to be accepted; every later
``portrait build`` then failed with a traceback (the as-of date, the windows, a rollup of eight
thousand years) and events cannot be deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import portrait
from tests.conftest import make_small

PORTRAIT = Path(sys.executable).parent / "portrait"
RANGE = "[1970-01-01, 2100-01-01) (settings ingest.min_time and ingest.max_time)"


pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    env.update({"COLUMNS": "250", "NO_COLOR": "1"})
    return subprocess.run(
        [str(PORTRAIT), *args], capture_output=True, text=True, check=False, env=env, timeout=120
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def events_parquet(path: Path, stamps: list[dt.datetime]) -> Path:
    pq.write_table(
        pa.table(
            {
                "user_id": [f"u{i + 1}" for i in range(len(stamps))],
                "ts": pa.array(stamps, pa.timestamp("us")),
                "event": ["view"] * len(stamps),
            }
        ),
        path,
    )
    return path


def test_csv_timestamp_beyond_the_range_is_a_rejected_row(tmp_path: Path) -> None:
    ws = make_small(tmp_path / "ws")
    path = write(
        tmp_path / "late.csv",
        "user_id,ts,event\nu1,99999-01-01,view\nu2,2026-10-31 11:00:00,view\n",
    )
    result = cli("ingest", "events", str(path), "-w", str(ws.root), "-q")
    assert result.returncode == 0, result.stderr
    assert (
        "rejected late.csv row 1, column 'ts': 99999-01-01 is outside the accepted time range "
        + RANGE
    ) in result.stderr
    assert ws.warehouse.tables["events"].max_time == "2026-10-31 21:00:00"

    build = cli("build", "-w", str(ws.root), "-q")
    assert build.returncode == 0, build.stderr
    assert "Traceback" not in build.stderr
    assert "as of 2026-10-31" in build.stdout


def test_parquet_timestamps_outside_the_range_are_rejected_rows(tmp_path: Path) -> None:
    ws = portrait.init(tmp_path / "ws")
    path = events_parquet(
        tmp_path / "e.parquet",
        [dt.datetime(9999, 12, 31), dt.datetime(1969, 12, 31, 23, 59), dt.datetime(2026, 10, 1)],
    )
    report = ws.ingest("events", path)
    assert report.problems == [
        f"e.parquet row 1, column 'ts': 9999-12-31 00:00:00 is outside the accepted time range {RANGE}",
        f"e.parquet row 2, column 'ts': 1969-12-31 23:59:00 is outside the accepted time range {RANGE}",
    ]
    assert ws.warehouse.tables["events"].max_time == "2026-10-01 00:00:00"


def test_other_timestamp_columns_are_checked_too(tmp_path: Path) -> None:
    ws = portrait.init(tmp_path / "ws")
    path = write(tmp_path / "u.csv", "user_id,registered_at\nu1,2200-01-01\nu2,2026-01-01\n")
    report = ws.ingest("users", path)
    assert report.problems == [
        f"u.csv row 1, column 'registered_at': 2200-01-01 is outside the accepted time range {RANGE}"
    ]


def test_the_range_comes_from_the_settings(tmp_path: Path) -> None:
    portrait.init(tmp_path / "ws")
    ws = portrait.open(
        tmp_path / "ws",
        overrides={"ingest.min_time": "2026-01-01", "ingest.max_time": "2200-01-01"},
    )
    path = write(
        tmp_path / "e.csv",
        "user_id,ts,event\nu1,2150-06-01,view\nu2,2025-12-31 23:59:59,view\nu3,2200-01-01,view\n",
    )
    report = ws.ingest("events", path)
    assert [p.split(": ")[0] for p in report.problems] == [
        "e.csv row 2, column 'ts'",
        "e.csv row 3, column 'ts'",
    ]
    assert "[2026-01-01, 2200-01-01)" in report.problems[0]
    assert ws.warehouse.tables["events"].max_time == "2150-06-01 00:00:00"


def test_a_build_leaves_out_stored_rows_outside_the_range(tmp_path: Path) -> None:
    """Rows stored under a wider range (or before ingest checked it) do not break the build."""
    ws = make_small(tmp_path / "ws")
    wide = portrait.open(ws.root, overrides={"ingest.max_time": "2200-01-01"})
    late = "user_id,ts,event\nu1,2150-01-01,search\nu1,2026-10-31 23:00:00,search\n"
    assert wide.ingest("events", write(tmp_path / "late.csv", late)).rows_loaded == 2

    report = portrait.open(ws.root).build()
    assert report.as_of == "2026-10-31"  # not 2150-01-01
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith(
        "1 events row with a 'ts' outside the accepted range [1970-01-01, 2100-01-01)"
    )
    assert "left out of this build" in report.warnings[0]
    profile = {r["user_id"]: r for r in ws.profile().to_pylist()}
    assert profile["u1"]["searches_7d"] == 3  # 10-25, 10-30, 10-31 23:00; not 2150

    result = cli("build", "-w", str(ws.root), "--full", "-q")
    assert result.returncode == 0, result.stderr
    assert "warning: 1 events row with a 'ts' outside the accepted range" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_build_survives_a_year_beyond_9999_stored_by_an_older_version(tmp_path: Path) -> None:
    """What Portrait stored before ingest checked the range: an event in the year 99999 and a
    manifest whose recorded last time is not even an ISO timestamp."""
    ws = make_small(tmp_path / "ws")
    ws.ingest(
        "events",
        write(tmp_path / "e.csv", "user_id,ts,event\nu1,2026-10-02,view\nu2,2026-10-02,view\n"),
    )
    snap = ws.warehouse
    assert snap.path is not None
    batch = snap.path / snap.tables["events"].files[-1]
    table = pq.read_table(batch)
    year_99999 = (dt.datetime(9999, 1, 1) - dt.datetime(1970, 1, 1)) // dt.timedelta(
        microseconds=1
    ) + 90_000 * 31_556_952_000_000
    stamps = pa.array([year_99999, table.column("ts")[1].value], pa.timestamp("us"))
    pq.write_table(table.set_column(table.schema.get_field_index("ts"), "ts", stamps), batch)
    manifest = json.loads((snap.path / "manifest.json").read_text(encoding="utf-8"))
    manifest["tables"]["events"]["max_time"] = "99999-01-01 00:00:00"
    (snap.path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    result = cli("build", "-w", str(ws.root), "-q")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "as of 2026-10-31" in result.stdout
    assert "warning: 1 events row with a 'ts' outside the accepted range" in result.stderr

    # the next ingest records a last time inside the range again
    ws.ingest("events", write(tmp_path / "e2.csv", "user_id,ts,event\nu1,2026-11-01,view\n"))
    assert ws.warehouse.tables["events"].max_time == "2026-11-01 00:00:00"
    assert portrait.open(ws.root).build().as_of == "2026-11-01"
