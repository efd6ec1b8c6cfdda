"""Killed half-way, segment writes leave nothing half-done: a segment is saved with its first
snapshot or not at all, an export file appears complete or not at all, and a build killed
between the profile swap and the segment refresh has the refresh finished by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import portrait
from portrait.workspace import Workspace

# Runs in a child process: makes the chosen step hang (after part of the work is done), so the
# parent can kill the process in the middle of it.
CHILD = textwrap.dedent(
    """
    import sys, time
    import portrait
    import portrait.audience.export as export
    import portrait.store.metadata as metadata

    root, what, marker = sys.argv[1], sys.argv[2], sys.argv[3]

    def hang(*args, **kwargs):
        open(marker, "w").close()
        time.sleep(60)

    ws = portrait.open(root)
    if what == "build":
        import portrait.audience.segments as segments
        segments.Segments.refresh_all = hang  # after the new profile version went live
        ws.build(full=True)
    elif what == "segment":
        metadata.MetadataStore.add_snapshot = hang  # inside the transaction, after the insert
        ws.segments.create("half", 'city = "北京"')
    else:
        real = export.pq.ParquetWriter.write_table
        def write_then_hang(self, table, *args, **kwargs):
            real(self, table, *args, **kwargs)
            hang()
        export.pq.ParquetWriter.write_table = write_then_hang
        ws.export_audience("women", root + "/women.parquet", ["city"])
    """
)


def _run_and_kill(root: Path, what: str) -> None:
    marker = root / f".{what}.started"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), what, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "the child never reached the step"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def test_killed_segment_create_saves_nothing(demo_ws: Workspace) -> None:
    demo_ws.segments.create("women", 'gender = "女"')
    _run_and_kill(demo_ws.root, "segment")
    ws = portrait.open(demo_ws.root)
    assert "half" not in ws.segments
    assert [s.name for s in ws.segments.all()] == ["women"]
    ws.segments.create("half", 'city = "北京"')  # the name is free, the database usable
    assert len(ws.segments.history("half")) == 1


def test_killed_export_leaves_no_partial_file(demo_ws: Workspace) -> None:
    demo_ws.segments.create("women", 'gender = "女"')
    _run_and_kill(demo_ws.root, "export")
    assert not (demo_ws.root / "women.parquet").exists()
    rows = demo_ws.export_audience("women", demo_ws.root / "women.parquet", ["city"])
    assert rows == len(demo_ws.segments.members("women"))


def test_build_killed_before_the_segment_refresh_is_finished_by_the_next(
    demo_ws: Workspace,
) -> None:
    demo_ws.segments.create("women", 'gender = "女"')
    before = demo_ws.built.version
    _run_and_kill(demo_ws.root, "build")
    ws = portrait.open(demo_ws.root)
    live = ws.built.version
    assert live != before  # the new version went live; its refresh did not happen
    assert ws.segments["women"].profile_version == before
    report = ws.build()
    assert report.up_to_date and report.segments_refreshed == ["women"]
    assert ws.segments["women"].profile_version == live
    again = ws.build()  # nothing pending now
    assert again.up_to_date and again.segments_refreshed == []
