"""Versioned folders with atomic swaps, and the workspace write lock.

A versioned folder holds numbered versions (``000001/``, ``000002/`` …) and a ``CURRENT``
file naming the live one. A writer fills a staging folder, then renames it to the next number
and replaces ``CURRENT`` atomically (``os.replace``). Readers resolve ``CURRENT`` once and keep
using that version's files, which are never modified, so they see either the old or the new
version, never a mix. A crash leaves only a ``.staging-*`` folder, removed by the next writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from portrait.errors import BusyError

CURRENT = "CURRENT"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    _fsync_dir(path.parent)


# CURRENT files seen by this process: (when checked, its stat, the version it names)
_POINTERS: dict[str, tuple[float, tuple[int, int, int], Path]] = {}
POINTER_MEMO = 0.005  # seconds


class VersionedDir:
    """A folder of immutable numbered versions with an atomically swapped ``CURRENT``."""

    def __init__(self, root: Path):
        self.root = root

    def current(self) -> Path | None:
        """The live version's folder, or None before the first swap. Servers ask this on
        every request, several times: an answer up to 5 ms old is given again (a request
        cannot tell which came first, it or another process's swap; this process's own swaps
        are seen at once); then a stat, and the pointer is read again only when its file
        changed (a swap replaces it with a new file, so a new inode)."""
        pointer = os.path.join(self.root, CURRENT)  # noqa: PTH118 (hot path: pathlib is slower)
        known = _POINTERS.get(pointer)
        now = time.monotonic()
        if known is not None and now - known[0] < POINTER_MEMO:
            return known[2]
        try:
            stat = os.stat(pointer)  # noqa: PTH116 (hot path, as above)
        except FileNotFoundError:
            _POINTERS.pop(pointer, None)
            return None
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if known is not None and known[1] == seen:
            _POINTERS[pointer] = (now, seen, known[2])
            return known[2]
        with open(pointer, encoding="utf-8") as handle:
            found = self.root / handle.read().strip()
        _POINTERS[pointer] = (now, seen, found)
        return found

    def versions(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    def clean_staging(self) -> None:
        """Remove what an interrupted writer left behind."""
        for p in self.root.glob(".staging-*"):
            shutil.rmtree(p, ignore_errors=True)

    @contextlib.contextmanager
    def stage(self) -> Iterator[Path]:
        """Yield an empty staging folder; on normal exit it becomes the next live version.

        Call within :func:`workspace_lock`. On an exception the staging folder is removed and
        the live version is untouched.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.clean_staging()
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        existing = self.versions()
        number = int(existing[-1].name) + 1 if existing else 1
        final = self.root / f"{number:06d}"
        staging.rename(final)
        _fsync_dir(self.root)
        write_atomic(self.root / CURRENT, final.name.encode())
        _POINTERS.pop(os.path.join(self.root, CURRENT), None)  # noqa: PTH118 (as in current)

    def prune(self, keep: int) -> None:
        """Delete versions older than the live one and the ``keep`` before it."""
        live = self.current()
        if live is None:
            return
        older = [p for p in self.versions() if p.name < live.name]
        for p in older[: max(0, len(older) - keep)]:
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def workspace_lock(
    lock_file: Path, busy: str = "another ingest or build is writing to this workspace"
) -> Iterator[None]:
    """Exclusive lock for writers (ingest, build, a campaign's launch); fails at once with
    ``busy`` if another process holds it. The OS drops it when its holder dies."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                busy,
                where=str(lock_file.parent.parent),
                hint="wait for it to finish and run the command again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def plain_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (0666 less the umask), for files made
    with ``tempfile.mkstemp`` (0600) and renamed into place."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link an immutable file into a new version (copy where links are impossible)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
