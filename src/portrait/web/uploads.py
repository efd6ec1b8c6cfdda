"""Files uploaded to the console: streamed to disk a megabyte at a time, within one limit."""

from __future__ import annotations

from pathlib import Path

from fastapi import UploadFile

from portrait.errors import InputError

MAX_UPLOAD = 32 * 2**20  # an ID list of about two million ids


async def save_upload(file: UploadFile, path: Path, field: str, hint: str) -> None:
    """Write ``file`` to ``path``; a file over :data:`MAX_UPLOAD` or an empty one is an
    error shown next to ``field`` (``hint``: how to load a larger one)."""
    size = 0
    with path.open("wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise InputError(
                    f"the file is larger than {MAX_UPLOAD >> 20} MiB", where=field, hint=hint
                )
            out.write(chunk)
    if size == 0:
        raise InputError("the file is empty", where=field)
