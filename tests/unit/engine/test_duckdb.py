"""The DuckDB engine session as Portrait configures it."""

from __future__ import annotations

from pathlib import Path

from portrait.engine import EngineSettings
from portrait.engine.duckdb import DuckDBEngine


def test_engine_keeps_stdout_clean() -> None:
    """DuckDB's progress bar writes to stdout; it would corrupt --format json output."""
    from portrait.engine.duckdb import DuckDBEngine

    engine = DuckDBEngine()
    row = engine.con.execute("SELECT current_setting('enable_progress_bar')").fetchone()
    assert row == (False,)


def test_settings_reach_the_session(tmp_path: Path) -> None:
    engine = DuckDBEngine(
        EngineSettings(threads=1, memory_limit="1GB", spill_directory=tmp_path / "spill")
    )
    row = engine.con.execute(
        "SELECT current_setting('threads'), current_setting('memory_limit'), "
        "current_setting('temp_directory'), current_setting('TimeZone')"
    ).fetchone()
    assert row is not None
    assert row[0] == 1 and row[1].startswith("953") and row[2] == str(tmp_path / "spill")
    assert row[3] == "UTC"
