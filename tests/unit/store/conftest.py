"""An empty metadata database of the current schema on each backend, for the repository tests.

PostgreSQL databases come from ``tests/postgres.py`` (a throwaway server per test process, or
``PORTRAIT_TEST_DATABASE_URL``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portrait.store.metadata import MetadataStore, open_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    engine = open_database(url, tmp_path)
    yield MetadataStore(engine)
    engine.dispose()
