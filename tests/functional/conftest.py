"""Fixtures shared by the functional tests (the ones of every test are in tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import portrait
from portrait.workspace import Workspace


@pytest.fixture
def no_portrait_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from the developer's environment must not leak into these tests (a module
    asks for it with ``pytestmark = pytest.mark.usefixtures("no_portrait_environment")``)."""
    for name in list(os.environ):
        if name.startswith("PORTRAIT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A new, empty workspace."""
    return portrait.init(tmp_path / "ws")
