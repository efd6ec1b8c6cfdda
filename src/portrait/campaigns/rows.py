"""Profile rows for campaigns: user ids and tag values of dense user ids (profile row = uid)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class ProfileRows:
    """Reads the profile's columns once (per set of columns) and takes rows by uid."""

    def __init__(self, profile_file: Path):
        self.profile_file = profile_file
        self._columns: tuple[str, ...] = ()
        self._table: pa.Table | None = None

    def _read(self, columns: Sequence[str]) -> pa.Table:
        wanted = tuple(dict.fromkeys(["user_id", *columns]))
        if self._table is None or not set(wanted) <= set(self._columns):
            self._columns = tuple(dict.fromkeys([*self._columns, *wanted]))
            self._table = pq.read_table(self.profile_file, columns=list(self._columns))
        return self._table

    def prefetch(self, columns: Sequence[str]) -> None:
        """Read these columns now, with the user ids, in one pass over the file."""
        self._read(columns)

    def user_ids(self, uids: np.ndarray) -> list[str]:
        column = self._read(()).column("user_id")
        return [str(v) for v in column.take(pa.array(uids)).to_pylist()]

    def values(self, uids: np.ndarray, columns: Sequence[str]) -> list[dict[str, Any]]:
        """One dict per uid with ``user_id`` and ``columns``."""
        table = self._read(columns).select(list(dict.fromkeys(["user_id", *columns])))
        rows: list[dict[str, Any]] = table.take(pa.array(uids)).to_pylist()
        return rows
