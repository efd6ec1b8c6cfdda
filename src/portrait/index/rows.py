"""Profile rows by dense id: the one reader of the built profile's rows (row number = uid).

- :func:`member_chunks` / :func:`take_rows`: the rows of some users, reading only the row
  groups that hold any (exports stream the chunks; a 360 view or a sample takes a few rows);
- :func:`one_row`: one user's row;
- :class:`ProfileRows`: columns read once and kept, for callers that take rows again and again
  (a campaign's batches), with :meth:`ProfileRows.restrict` to an audience so that batches in
  uid order are zero-copy slices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq


def member_chunks(
    profile_file: Path, uids: npt.NDArray[Any], columns: Sequence[str]
) -> Iterator[pa.Table]:
    """The rows of the given dense ids (ascending) with ``columns``, one table per profile
    row group that holds any; other row groups are not read."""
    parquet = pq.ParquetFile(profile_file)
    ids = np.asarray(uids, dtype=np.int64)
    start = 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        lo, hi = np.searchsorted(ids, [start, start + rows])
        if hi > lo:
            chunk = parquet.read_row_group(group, columns=list(columns))
            yield chunk.take(pa.array(ids[lo:hi] - start))
        start += rows


def empty_rows(profile_file: Path, columns: Sequence[str]) -> pa.Table:
    """No rows, with the profile's types for ``columns``."""
    return pq.ParquetFile(profile_file).schema_arrow.empty_table().select(list(columns))


def take_rows(profile_file: Path, uids: npt.NDArray[Any], columns: Sequence[str]) -> pa.Table:
    """The rows of the given dense ids (ascending) with ``columns``, as one table."""
    parts = list(member_chunks(profile_file, uids, columns))
    return pa.concat_tables(parts) if parts else empty_rows(profile_file, columns)


def one_row(profile_file: Path, uid: int, columns: Sequence[str]) -> dict[str, Any]:
    """``user_id`` and ``columns`` of one user, reading only the row group that holds it (a
    check at campaign creation should not read whole columns of a large profile)."""
    names = list(dict.fromkeys(["user_id", *columns]))
    table = take_rows(profile_file, np.array([uid]), names)
    if table.num_rows == 0:
        raise KeyError(f"uid {uid} is not in {profile_file}")
    found: dict[str, Any] = table.to_pylist()[0]
    return found


class ProfileRows:
    """Reads the profile's columns once (per set of columns) and takes rows by uid.

    :meth:`restrict` keeps only an audience's rows (sorted by uid): batches, which walk the
    audience in uid order, are then zero-copy slices instead of takes from the whole profile
    (a take of 10,000 rows from 10M costs tens of milliseconds; a slice nothing).
    """

    def __init__(self, profile_file: Path):
        self.profile_file = profile_file
        self._columns: tuple[str, ...] = ()
        self._table: pa.Table | None = None
        self._uids: np.ndarray | None = None  # the rows of _table when restricted

    def _read(self, columns: Sequence[str]) -> pa.Table:
        wanted = tuple(dict.fromkeys(["user_id", *columns]))
        if self._table is None or not set(wanted) <= set(self._columns):
            self._columns = tuple(dict.fromkeys([*self._columns, *wanted]))
            table = pq.read_table(self.profile_file, columns=list(self._columns))
            if self._uids is not None:
                table = table.take(pa.array(self._uids))
            self._table = table
        return self._table

    def prefetch(self, columns: Sequence[str]) -> None:
        """Read these columns now, with the user ids, in one pass over the file."""
        self._read(columns)

    def restrict(self, uids: np.ndarray) -> None:
        """Keep only these users' rows (``uids`` sorted ascending)."""
        table = self._read(())
        if self._uids is not None:
            raise ValueError("rows are already restricted")
        self._table = table.take(pa.array(uids)).combine_chunks()
        self._uids = np.asarray(uids, dtype=np.int64)

    def _rows(self, uids: np.ndarray, columns: Sequence[str]) -> pa.Table:
        table = self._read(columns).select(list(dict.fromkeys(["user_id", *columns])))
        if self._uids is None:
            return table.take(pa.array(uids))
        at = np.searchsorted(self._uids, uids)
        if len(at) and (at[-1] >= len(self._uids) or not np.array_equal(self._uids[at], uids)):
            raise KeyError("a uid outside the restricted rows")
        if len(at) and at[-1] - at[0] == len(at) - 1:  # consecutive: a slice
            return table.slice(int(at[0]), len(at))
        return table.take(pa.array(at))

    def user_ids(self, uids: np.ndarray) -> list[str]:
        return [str(v) for v in self._rows(uids, ()).column("user_id").to_pylist()]

    def values(self, uids: np.ndarray, columns: Sequence[str]) -> list[dict[str, Any]]:
        """One dict per uid with ``user_id`` and ``columns``."""
        rows: list[dict[str, Any]] = self._rows(uids, columns).to_pylist()
        return rows
