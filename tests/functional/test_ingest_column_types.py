"""Column types across batches: a column keeps the type it was first loaded with; values that
do not fit it are an error or rejected, never rounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.errors import IngestError
from portrait.workspace import Workspace
from tests.functional.ingest_helpers import assert_untouched, table_rows, write

pytestmark = pytest.mark.usefixtures("no_portrait_environment")


def test_text_in_a_column_loaded_as_int_is_an_error(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event,n\nu1,2026-10-01,a,1\n"))
    assert ws.warehouse.tables["events"].columns["n"] == "int"
    path = write(
        tmp_path / "e2.csv", "user_id,ts,event,n\nu1,2026-10-02,a,abc\nu2,2026-10-02,a,x\n"
    )

    with pytest.raises(IngestError) as err:
        ws.ingest("events", path)

    assert err.value.where == str(path)
    assert "column 'n'" in str(err.value)
    assert "whole number" in str(err.value)
    assert_untouched(ws, "000001", {"events": 1})
    assert ws.warehouse.tables["events"].columns["n"] == "int"


def test_a_column_keeps_its_first_type(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event,page\nu1,2026-10-01,a,home\n"))
    ws.ingest("events", write(tmp_path / "e2.csv", "user_id,ts,event,page\nu1,2026-10-02,a,42\n"))
    assert ws.warehouse.tables["events"].columns["page"] == "string"
    assert [r["page"] for r in table_rows(ws, "events", "ts")] == ["home", "42"]


def test_decimal_in_an_int_column_is_rejected_not_rounded(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest("events", write(tmp_path / "e1.csv", "user_id,ts,event,n\nu1,2026-10-01,a,1\n"))
    path = write(
        tmp_path / "e2.csv", "user_id,ts,event,n\nu1,2026-10-02,a,2.5\nu2,2026-10-03,a,4\n"
    )
    report = ws.ingest("events", path)
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    assert report.problems[0].startswith("e2.csv row 1, column 'n': ")
    assert "2.5" in report.problems[0]
    assert [r["n"] for r in table_rows(ws, "events", "ts")] == [1, 4]
