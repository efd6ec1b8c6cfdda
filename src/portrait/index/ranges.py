"""Range index for numeric tags: the users sorted by value.

Design: a sorted-value index (values ascending, with the uid of each) answers any range
predicate with two binary searches and one bitmap built from the slice of uids; equality is a
range of width zero. It stores 12 bytes per user with a value and needs no choice of bins, so
it serves ints, floats, dates and timestamps alike. (A bit-sliced index would be smaller for
narrow ints, but is slower to answer wide ranges in Python.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import BitMap

from portrait.index.bitmaps import bitmap_from_sorted

NumericArray = npt.NDArray[np.float64] | npt.NDArray[np.int64]


def numeric_values(array: pa.Array) -> tuple[NumericArray, npt.NDArray[np.bool_]]:
    """Values as float64 (int, float) or int64 (days for dates, microseconds for timestamps)."""
    valid = pc.is_valid(array).to_numpy(zero_copy_only=False)
    if pa.types.is_date(array.type):
        ints = pc.fill_null(array.cast(pa.date32()).cast(pa.int32()), 0).cast(pa.int64())
        return ints.to_numpy(zero_copy_only=False), valid
    if pa.types.is_timestamp(array.type):
        ints = pc.fill_null(array.cast(pa.timestamp("us")).cast(pa.int64()), 0)
        return ints.to_numpy(zero_copy_only=False), valid
    if pa.types.is_integer(array.type):
        return pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), valid
    return pc.fill_null(array.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False), valid


class RangeIndex:
    """Users sorted by a numeric value; range and equality predicates → bitmaps."""

    def __init__(
        self,
        n_users: int,
        sorted_values: NumericArray,
        uids: npt.NDArray[np.uint32],
        missing: BitMap,
    ):
        self.n_users = n_users
        self.sorted_values = sorted_values
        self.uids = uids
        self.missing = missing

    @classmethod
    def build(cls, column: pa.ChunkedArray | pa.Array) -> RangeIndex:
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        values, valid = numeric_values(array)
        if values.dtype.kind == "f":
            valid = valid & ~np.isnan(values)
        uids = np.flatnonzero(valid).astype(np.uint32)
        present = values[valid]
        order = np.argsort(present, kind="stable")
        return cls(
            len(array), present[order], uids[order], bitmap_from_sorted(np.flatnonzero(~valid))
        )

    def range(
        self,
        low: float | None = None,
        high: float | None = None,
        *,
        low_inclusive: bool = True,
        high_inclusive: bool = True,
    ) -> BitMap:
        """Users whose value lies between ``low`` and ``high`` (None: unbounded)."""
        start = 0
        end = len(self.sorted_values)
        if low is not None:
            start = int(
                np.searchsorted(self.sorted_values, low, side="left" if low_inclusive else "right")
            )
        if high is not None:
            end = int(
                np.searchsorted(
                    self.sorted_values, high, side="right" if high_inclusive else "left"
                )
            )
        if end <= start:
            return BitMap()
        return bitmap_from_sorted(np.sort(self.uids[start:end]))

    def equal(self, value: float) -> BitMap:
        return self.range(value, value)

    @property
    def present(self) -> int:
        return len(self.sorted_values)

    def save(self, path: Path) -> None:
        missing = np.frombuffer(self.missing.serialize(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez(
                fh,
                values=self.sorted_values,
                uids=self.uids,
                missing=missing,
                n_users=np.array([self.n_users]),
            )

    @classmethod
    def load(cls, path: Path) -> RangeIndex:
        with np.load(path) as data:
            missing = BitMap.deserialize(data["missing"].tobytes())
            return cls(int(data["n_users"][0]), data["values"], data["uids"], missing)
