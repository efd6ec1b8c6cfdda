"""Saved segments (分群 / 人群包) and ID lists: sizes, history, overlap, members, exports."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from portrait.api.deps import CoreDep, MetricsDep, SegmentsKey, SegmentsWriteKey, UsersKey
from portrait.api.schemas import SegmentRequest
from portrait.errors import InputError

router = APIRouter(tags=["segments"])


@router.get("/v1/segments")
def segments(key: SegmentsKey, core: CoreDep) -> list[dict[str, Any]]:
    with core.hold() as w:
        return w.audiences.segments.all(key.caller)


@router.get("/v1/segments/{name}")
def segment(name: str, key: SegmentsKey, core: CoreDep) -> dict[str, Any]:
    with core.hold() as w:
        return w.audiences.segments.info(name, key.caller)


@router.post("/v1/segments")
def create_segment(
    body: SegmentRequest, key: SegmentsWriteKey, core: CoreDep, metrics: MetricsDep
) -> dict[str, Any]:
    with core.hold() as w, metrics.evaluations.time():
        return w.audiences.segments.create(
            body.name,
            body.rule,
            mode=body.mode,
            description=body.description,
            expected_version=body.expected_version,
            caller=key.caller,
        )


@router.post("/v1/segments/{name}/refresh")
def refresh_segment(
    name: str, key: SegmentsWriteKey, core: CoreDep, metrics: MetricsDep
) -> dict[str, Any]:
    with core.hold() as w:
        with metrics.evaluations.time():
            w.audiences.segments.refresh(name, key.caller)
        return w.audiences.segments.info(name, key.caller)


@router.delete("/v1/segments/{name}")
def delete_segment(name: str, key: SegmentsWriteKey, core: CoreDep) -> dict[str, Any]:
    with core.hold() as w:
        w.audiences.segments.delete(name, key.caller)
    return {"deleted": name}


@router.get("/v1/segments/{a}/overlap/{b}")
def segment_overlap(a: str, b: str, key: SegmentsKey, core: CoreDep) -> dict[str, Any]:
    """Sizes of A, B, A∩B, A∪B, A only, B only and the Jaccard index."""
    with core.hold() as w:
        return w.audiences.segments.overlap(a, b, key.caller)


@router.get("/v1/segments/{name}/history")
def segment_history(name: str, key: SegmentsKey, core: CoreDep) -> list[dict[str, Any]]:
    with core.hold() as w:
        return w.audiences.segments.history(name, key.caller)


@router.get("/v1/segments/{name}/members")
def segment_members(
    name: str, key: UsersKey, core: CoreDep, cursor: int = -1, limit: int = 1000
) -> dict[str, Any]:
    """Members' user ids in uid order, a page at a time: pass ``next_cursor`` back."""
    with core.hold() as w:
        return w.audiences.segments.members_page(name, cursor, limit, key.caller)


@router.get("/v1/segments/{name}/export")
def export_segment(
    name: str,
    key: UsersKey,
    core: CoreDep,
    format: str = "csv",
    columns: str = "",
    unmask: bool = False,
) -> FileResponse:
    """The members with tag columns as a CSV or Parquet file (PII masked unless an admin
    asks for ``unmask``), written to a temporary file and streamed from it."""
    if format not in ("csv", "parquet"):
        raise InputError("format is csv or parquet", where="format")
    folder = tempfile.mkdtemp(prefix="portrait-export-")
    path = Path(folder) / f"{name}.{format}"
    try:
        wanted = [c.strip() for c in columns.split(",") if c.strip()] or None
        core.analysis(
            "the export",
            lambda w: w.audiences.export(name, path, wanted, unmask=unmask, caller=key.caller),
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        filename=path.name,
        media_type="text/csv" if format == "csv" else "application/vnd.apache.parquet",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.post("/v1/id-lists/{name}")
def upload_ids(
    name: str,
    key: SegmentsWriteKey,
    core: CoreDep,
    file: Annotated[UploadFile, File(description="One id a line, or a CSV (with column).")],
    column: Annotated[str | None, Form()] = None,
    replace: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(file.filename or "ids.txt").name or "ids.txt")
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        with core.hold() as w:
            report = w.audiences.segments.upload_ids(
                name, path, column=column, replace=replace, caller=key.caller
            )
    result: dict[str, Any] = report.to_dict()
    result.pop("unmatched_file", None)  # server paths mean nothing to the caller
    result["source"] = file.filename
    return result
