"""Range index for numeric tags (ints, floats, dates, timestamps): range-encoded bitmaps.

Design. Breakpoints ``b_0 < … < b_{K-1}`` split the values into bins ``(b_{k-1}, b_k]``; for
every breakpoint the index keeps the bitmap of users with value ``≤ b_k`` (range encoding), so
any range is one bitmap difference: ``lo ≤ v ≤ hi`` is ``cum(hi) − cum(<lo)``.

- **Exact** (at most :data:`EXACT_MAX` distinct values, e.g. ages, counts, scores): every
  distinct value is a breakpoint; no refinement is ever needed.
- **Binned** (more distinct values: amounts, timestamps): :data:`BINS` quantile breakpoints;
  a bound that falls inside a bin is refined from that bin's (value, user) pairs, stored
  sorted by user id and memory-mapped, so only the one or two edge bins are read.

A cumulative bitmap denser than half the users is stored as its complement (smaller when a
tag is skewed, e.g. mostly zeros). Missing values (NULL, NaN) are a bitmap of their own.

Every user's value is also kept in user order (``column``: the narrowest integer type that
holds an integer tag, int32 days for dates, int64 microseconds for timestamps, float64; 0 for
missing users), memory-mapped, so comparisons between tags and arithmetic read two columns
instead of rebuilding them from the bins.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from portrait.index.bitmaps import bitmap_from_sorted

if TYPE_CHECKING:
    import pyarrow as pa

NumericArray = npt.NDArray[Any]

EXACT_MAX = 64
BINS = 32
_MAGIC = b"PTRIDX2\n"
_ALIGN = 64


def numeric_values(array: pa.Array) -> tuple[NumericArray, npt.NDArray[np.bool_]]:
    """Values as float64 (int, float) or int64 (days for dates, microseconds for timestamps)."""
    import pyarrow as pa
    import pyarrow.compute as pc

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


def _small_int_counts(values: NumericArray) -> npt.NDArray[np.int64] | None:
    """Counts per value offset from the minimum, for integers spanning a small range."""
    if values.dtype.kind not in "iu" or values.size == 0:
        return None
    low, high = int(values.min()), int(values.max())
    if high - low > 1 << 20:
        return None
    return np.bincount(values - low, minlength=high - low + 1)


def _breakpoints(values: NumericArray) -> tuple[NumericArray, bool]:
    """(breakpoints ascending, exact): every distinct value when there are at most EXACT_MAX,
    else BINS quantiles (the last one the maximum). Integers over a small range are counted,
    not sorted."""
    cuts = (np.arange(1, BINS + 1) * values.size) // BINS - 1
    counts = _small_int_counts(values)
    if counts is not None:
        distinct = np.flatnonzero(counts).astype(np.int64) + int(values.min())
        if distinct.size <= EXACT_MAX:
            return distinct.astype(values.dtype), True
        cumulative = np.cumsum(counts[counts > 0])
        chosen = distinct[np.searchsorted(cumulative, cuts, side="right")]
        return np.unique(chosen).astype(values.dtype), False
    ordered = np.sort(values)
    change = np.r_[True, ordered[1:] != ordered[:-1]] if ordered.size else ordered.astype(bool)
    if np.count_nonzero(change) <= EXACT_MAX:
        return ordered[change], True
    return np.unique(ordered[cuts]), False


def _compact(values: NumericArray, valid: npt.NDArray[np.bool_]) -> NumericArray:
    """``values`` in user order, in the narrowest type that holds them (0 where missing)."""
    if values.dtype.kind == "f":
        return np.where(valid, values, 0.0)
    if values.size == 0:
        return values.astype(np.int8)
    present = values[valid]
    low, high = (int(present.min()), int(present.max())) if present.size else (0, 0)
    kind: type[np.signedinteger[Any]] = np.int64
    for candidate in (np.int8, np.int16, np.int32):
        limits = np.iinfo(candidate)
        if limits.min <= low and high <= limits.max:
            kind = candidate
            break
    return np.where(valid, values, 0).astype(kind)


class RangeIndex:
    """Range and equality predicates on a numeric tag → bitmaps.

    Returned bitmaps may be the index's own: combine them into new ones, never change them in
    place.
    """

    def __init__(
        self,
        n_users: int,
        breakpoints: NumericArray,
        stored: list[AbstractBitMap],
        complemented: npt.NDArray[np.bool_],
        missing: AbstractBitMap,
        counts: npt.NDArray[np.int64],
        bin_offsets: npt.NDArray[np.int64] | None = None,
        bin_values: NumericArray | None = None,
        bin_uids: npt.NDArray[np.uint32] | None = None,
        column: NumericArray | None = None,
    ):
        self.n_users = n_users
        self.column = column  # every user's value in user order (None: an older index)
        self.breakpoints = breakpoints
        self.stored = stored
        self.complemented = complemented
        self.missing = missing
        self.counts = counts  # users per bin
        self.bin_offsets = bin_offsets
        self.bin_values = bin_values
        self.bin_uids = bin_uids
        self.exact = bin_offsets is None
        self.present_users = FrozenBitMap(range(n_users)) - missing

    # -- building ---------------------------------------------------------------------
    @classmethod
    def build(cls, column: pa.ChunkedArray | pa.Array) -> RangeIndex:
        import pyarrow as pa

        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        values, valid = numeric_values(array)
        if values.dtype.kind == "f":
            valid = valid & ~np.isnan(values)
        n_users = len(array)
        uids = np.flatnonzero(valid).astype(np.uint32)
        present = values[valid]
        missing = bitmap_from_sorted(np.flatnonzero(~valid))
        breakpoints, exact = _breakpoints(present)
        # bin codes fit 8 bits, so the stable sort below is a radix sort
        small = present.dtype.kind in "iu" and present.size and exact
        if small and int(present.max()) - int(present.min()) <= 1 << 20:
            low = int(present.min())
            span = np.arange(low, int(present.max()) + 1, dtype=present.dtype)
            lookup = np.searchsorted(breakpoints, span, side="left").astype(np.uint8)
            bins = lookup[present - low]
        else:
            bins = np.searchsorted(breakpoints, present, side="left").astype(np.uint8)
        order = np.argsort(bins, kind="stable")  # by bin, users ascending within a bin
        bin_offsets = np.searchsorted(bins[order], np.arange(breakpoints.size + 1)).astype(np.int64)
        counts = np.diff(bin_offsets)
        sorted_uids = uids[order]
        stored: list[AbstractBitMap] = []
        complemented = np.zeros(breakpoints.size, dtype=np.bool_)
        cumulative = BitMap()
        everyone_present = bitmap_from_sorted(uids)
        for k in range(breakpoints.size):
            cumulative |= bitmap_from_sorted(sorted_uids[bin_offsets[k] : bin_offsets[k + 1]])
            if len(cumulative) * 2 > present.size:
                complemented[k] = True
                stored.append(everyone_present - cumulative)
            else:
                stored.append(cumulative.copy())
        column = _compact(values, valid)
        if exact:
            return cls(n_users, breakpoints, stored, complemented, missing, counts, column=column)
        return cls(
            n_users,
            breakpoints,
            stored,
            complemented,
            missing,
            counts,
            bin_offsets,
            present[order],
            sorted_uids,
            column=column,
        )

    # -- queries ----------------------------------------------------------------------
    def _refine(self, k: int, bound: float, inclusive: bool) -> AbstractBitMap:
        """Users of bin ``k`` with value below (or at) ``bound``."""
        assert self.bin_offsets is not None
        assert self.bin_values is not None
        assert self.bin_uids is not None
        lo, hi = int(self.bin_offsets[k]), int(self.bin_offsets[k + 1])
        values = self.bin_values[lo:hi]
        keep = values <= bound if inclusive else values < bound
        return bitmap_from_sorted(self.bin_uids[lo:hi][keep])

    def _below(self, bound: float, inclusive: bool) -> tuple[AbstractBitMap, bool]:
        """Users with value < bound (≤ with ``inclusive``), as (bitmap, complemented): when
        complemented, the users are the present ones *not* in the bitmap."""
        side: Literal["left", "right"] = "right" if inclusive else "left"
        k = int(np.searchsorted(self.breakpoints, bound, side=side)) - 1
        if k < 0:
            base: AbstractBitMap = FrozenBitMap()
            flipped = False
        else:
            base, flipped = self.stored[k], bool(self.complemented[k])
        if self.exact or k + 1 >= self.breakpoints.size:
            return base, flipped
        extra = self._refine(k + 1, bound, inclusive)
        if not extra:
            return base, flipped
        return (self.present_users - base if flipped else base) | extra, False

    def range(
        self,
        low: float | None = None,
        high: float | None = None,
        *,
        low_inclusive: bool = True,
        high_inclusive: bool = True,
    ) -> AbstractBitMap:
        """Users whose value lies between ``low`` and ``high`` (None: unbounded).

        Cumulative bitmaps stored as complements are combined without building the dense
        side: (P − A) − (P − B) = B − A, A − (P − B) = A ∩ B.
        """
        present = self.present_users
        upper: AbstractBitMap
        if high is None:
            upper, upper_flipped = present, False
        else:
            upper, upper_flipped = self._below(high, high_inclusive)
        if low is None:
            return present - upper if upper_flipped else upper
        lower, lower_flipped = self._below(low, not low_inclusive)
        if upper_flipped and lower_flipped:
            return lower - upper
        if upper_flipped:
            return present - upper - lower
        if lower_flipped:
            return upper & lower
        return upper - lower

    def equal(self, value: float) -> AbstractBitMap:
        return self.range(value, value)

    def cumulative(self, k: int) -> AbstractBitMap:
        """Users with a value ≤ breakpoint ``k`` (built when stored as a complement)."""
        return self.present_users - self.stored[k] if self.complemented[k] else self.stored[k]

    def bins(self, chosen: Sequence[int]) -> list[AbstractBitMap]:
        """Users per bin between consecutive ``chosen`` breakpoints (ascending positions): the
        first bin holds the values ≤ its breakpoint, the next ones (previous, breakpoint]. With
        the last breakpoint chosen, the bins and ``missing`` partition all users."""
        bins: list[AbstractBitMap] = []
        previous: AbstractBitMap = FrozenBitMap()
        for k in chosen:
            current = self.cumulative(k)
            bins.append(current - previous)
            previous = current
        return bins

    def values(self) -> NumericArray:
        """Every user's value in user order (days for dates, microseconds for timestamps; 0
        for missing users, see ``missing``): the stored column, or for an index written
        before it was kept, rebuilt from the bins."""
        if self.column is not None:
            return self.column
        values = np.zeros(self.n_users, dtype=np.float64)
        if self.exact:
            previous: AbstractBitMap = FrozenBitMap()
            for k, point in enumerate(self.breakpoints):
                current = self.cumulative(k)
                values[np.asarray((current - previous).to_array(), dtype=np.uint32)] = point
                previous = current
        else:
            assert self.bin_uids is not None
            assert self.bin_values is not None
            values[self.bin_uids] = self.bin_values
        return values

    @property
    def present(self) -> int:
        return int(self.counts.sum())

    @property
    def sorted_values(self) -> NumericArray:
        """Every present value, ascending (for statistics; built on demand)."""
        if self.exact:
            return np.repeat(self.breakpoints, self.counts)
        assert self.bin_values is not None
        assert self.bin_offsets is not None
        parts = [
            np.sort(self.bin_values[self.bin_offsets[k] : self.bin_offsets[k + 1]])
            for k in range(self.breakpoints.size)
        ]
        return np.concatenate(parts) if parts else self.breakpoints[:0]

    def nbytes(self) -> int:
        """Bytes held in memory: bitmaps and the small arrays (bin arrays are mapped)."""
        total = sum(b.get_statistics()["n_bytes_array_containers"] for b in self.stored)
        total += sum(b.get_statistics()["n_bytes_bitset_containers"] for b in self.stored)
        total += sum(b.get_statistics()["n_bytes_run_containers"] for b in self.stored)
        return int(total + len(self.missing.serialize()) + len(self.present_users.serialize()))

    # -- storage ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        sections: list[tuple[str, bytes]] = [
            ("breakpoints", self.breakpoints.tobytes()),
            ("counts", self.counts.astype(np.int64).tobytes()),
            ("complemented", self.complemented.astype(np.uint8).tobytes()),
            ("missing", self.missing.serialize()),
        ]
        sections += [(f"bitmap{k}", b.serialize()) for k, b in enumerate(self.stored)]
        if self.column is not None:
            sections.append(("column", np.ascontiguousarray(self.column).tobytes()))
        if not self.exact:
            assert self.bin_offsets is not None
            assert self.bin_values is not None
            assert self.bin_uids is not None
            sections += [
                ("bin_offsets", self.bin_offsets.astype(np.int64).tobytes()),
                ("bin_values", np.ascontiguousarray(self.bin_values).tobytes()),
                ("bin_uids", self.bin_uids.astype(np.uint32).tobytes()),
            ]
        layout: dict[str, list[int]] = {}
        offset = 0
        for name, data in sections:
            layout[name] = [offset, len(data)]
            offset += -(-len(data) // _ALIGN) * _ALIGN
        header = json.dumps(
            {
                "n_users": self.n_users,
                "dtype": self.breakpoints.dtype.str,
                "breakpoints": int(self.breakpoints.size),
                "exact": self.exact,
                "column_dtype": None if self.column is None else self.column.dtype.str,
                "sections": layout,
            }
        ).encode()
        start = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
        with open(path, "wb") as fh:
            fh.write(_MAGIC + struct.pack("<Q", len(header)) + header)
            for name, data in sections:
                fh.seek(start + layout[name][0])
                fh.write(data)
            fh.truncate(start + offset)

    @classmethod
    def load(cls, path: Path) -> RangeIndex:
        with open(path, "rb") as fh:
            if fh.read(len(_MAGIC)) != _MAGIC:
                raise ValueError(f"{path} is not a range index of this version")
            (size,) = struct.unpack("<Q", fh.read(8))
            header: dict[str, Any] = json.loads(fh.read(size))
        start = -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN
        mapped = np.memmap(path, dtype=np.uint8, mode="r")
        sections = header["sections"]

        def raw(name: str) -> npt.NDArray[np.uint8]:
            offset, length = sections[name]
            return mapped[start + offset : start + offset + length]

        dtype = np.dtype(header["dtype"])
        breakpoints = np.frombuffer(raw("breakpoints").tobytes(), dtype=dtype)
        k = int(header["breakpoints"])
        stored = [FrozenBitMap.deserialize(raw(f"bitmap{i}").tobytes()) for i in range(k)]
        common: dict[str, Any] = {
            "n_users": int(header["n_users"]),
            "breakpoints": breakpoints,
            "stored": stored,
            "complemented": raw("complemented").astype(np.bool_),
            "missing": FrozenBitMap.deserialize(raw("missing").tobytes()),
            "counts": np.frombuffer(raw("counts").tobytes(), dtype=np.int64),
            "column": raw("column").view(np.dtype(header["column_dtype"]))
            if "column" in sections
            else None,
        }
        if header["exact"]:
            return cls(**common)
        return cls(
            **common,
            bin_offsets=np.frombuffer(raw("bin_offsets").tobytes(), dtype=np.int64),
            bin_values=raw("bin_values").view(dtype),
            bin_uids=raw("bin_uids").view(np.uint32),
        )
