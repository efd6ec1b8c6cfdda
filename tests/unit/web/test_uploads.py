"""Console uploads: written whole, refused when empty or over the limit (nothing left)."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import UploadFile

from portrait.errors import InputError
from portrait.web import uploads


def _save(data: bytes, path: Path) -> None:
    # A thread of its own: a browser test earlier in this worker may leave an
    # event loop running in the main thread, where asyncio.run would refuse.
    upload = UploadFile(io.BytesIO(data), filename="a.csv")
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, uploads.save_upload(upload, path, "file", "use the CLI")).result()


def test_written_whole(tmp_path: Path) -> None:
    data = b"user_id\n" + b"u1\n" * 700_000  # more than one chunk
    _save(data, tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_bytes() == data


def test_empty_and_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="the file is empty") as empty:
        _save(b"", tmp_path / "e.csv")
    assert empty.value.where == "file"
    monkeypatch.setattr(uploads, "MAX_UPLOAD", 2**20)
    with pytest.raises(InputError, match="larger than 1 MiB") as large:
        _save(b"x" * (2**20 + 1), tmp_path / "l.csv")
    assert large.value.hint == "use the CLI"
