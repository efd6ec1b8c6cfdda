"""A tiny progress protocol so the core can report long steps without knowing about terminals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    """Receives progress from long-running steps. The CLI renders it with rich."""

    def start(self, step: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Discards progress (the Python API default)."""

    def start(self, step: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1) -> None:
        return None

    def finish(self) -> None:
        return None


@contextmanager
def step(progress: Progress, name: str, total: float | None = None) -> Iterator[Progress]:
    """Run a block as one named step of ``progress``; the step is finished even on error."""
    progress.start(name, total)
    try:
        yield progress
    finally:
        progress.finish()
