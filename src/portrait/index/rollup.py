"""The rollup index: the event rollup as memory-mapped arrays, sliced by day.

Rows of the rollup table (one per event, business line, UTC day and user; sorted that way)
are stored column-wise: ``uid.npy`` and ``n.npy`` (event count). An (event, business line)
pair is a *group*; ``offsets.npy[g, d]`` is where group ``g``'s rows of day ``d`` start, so a
window is one contiguous slice per group. ``any_uid.npy`` / ``any_n.npy`` hold the same per
(day, user) over all events, for ``active_days`` and event-less counts. Sums of numeric
properties are stored for the groups that have values (``sum.<property>.npy``).

A measure over a window is a ``bincount`` over the slices: one value per user, zero for users
without matching events.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from numpy.lib.format import open_memmap
from pyroaring import BitMap

from portrait.index.bitmaps import bitmap_from_mask, bitmap_from_sorted

if TYPE_CHECKING:
    import pyarrow as pa

META_FILE = "meta.json"
BLOCK_BITS = 20  # = compile.rollup.ROLLUP_BLOCK_BITS
BLOCK = 1 << BLOCK_BITS
"""Users per block: rows are ordered by block inside a group, so a window's counts are
accumulated block by block into a histogram that stays in the CPU cache."""
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Group:
    event: str
    business_line: str | None
    rows: int
    sums: dict[str, int]  # property → start of this group's rows in sum.<property>.npy


def _day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


class RollupWriter:
    """Writes the index from the rollup's batches (in the rollup's order)."""

    def __init__(
        self,
        target: Path,
        groups: Sequence[dict[str, Any]],
        sums: Sequence[str],
        first_day: dt.date,
        last_day: dt.date,
        n_users: int,
    ):
        self.target = target
        self.n_blocks = max(1, -(-n_users // BLOCK))
        target.mkdir(parents=True, exist_ok=True)
        self.first_day = first_day
        self.n_days = (last_day - first_day).days + 1
        self.sums = list(sums)
        self.groups: list[Group] = []
        sum_sizes = dict.fromkeys(self.sums, 0)
        for g in groups:
            starts: dict[str, int] = {}
            for prop in self.sums:
                if int(g.get(f"sum_{prop}") or 0) > 0:
                    starts[prop] = sum_sizes[prop]
                    sum_sizes[prop] += int(g["rows"])
            self.groups.append(Group(str(g["event"]), g["business_line"], int(g["rows"]), starts))
        self.bounds = np.cumsum([0] + [g.rows for g in self.groups], dtype=np.int64)
        total = int(self.bounds[-1])
        self.uid = open_memmap(target / "uid.npy", mode="w+", dtype=np.uint32, shape=(total,))
        self.n = open_memmap(target / "n.npy", mode="w+", dtype=np.uint32, shape=(total,))
        self.sum_arrays = {
            p: open_memmap(target / f"sum.{p}.npy", mode="w+", dtype=np.float64, shape=(size,))
            for p, size in sum_sizes.items()
            if size
        }
        self.sum_start = {
            p: np.array([g.sums.get(p, -1) for g in self.groups], dtype=np.int64) for p in self.sums
        }
        self.counts = np.zeros((len(self.groups), self.n_blocks, self.n_days), dtype=np.int64)
        self.pos = 0
        self.any_parts: list[Path] = []

    def _days(self, column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
        import pyarrow as pa

        days = np.asarray(column.cast(pa.int32()), dtype=np.int64)
        return days - _day_number(self.first_day)

    def add(self, batch: pa.RecordBatch) -> None:
        """Rows of the rollup table, continuing where the previous batch stopped."""
        size = batch.num_rows
        if size == 0:
            return
        rows = np.arange(self.pos, self.pos + size, dtype=np.int64)
        group = np.searchsorted(self.bounds, rows, side="right") - 1
        days = self._days(batch.column("day"))
        if days.min() < 0 or days.max() >= self.n_days:
            raise ValueError("a rollup day lies outside the index's day range")
        uids = np.asarray(batch.column("uid"), dtype=np.uint32)
        blocks = (uids >> BLOCK_BITS).astype(np.int64)
        if blocks.max() >= self.n_blocks:
            raise ValueError("a rollup user id lies beyond the population")
        key = (group * self.n_blocks + blocks) * self.n_days + days
        self.counts += np.bincount(key, minlength=self.counts.size).reshape(self.counts.shape)
        self.uid[self.pos : self.pos + size] = uids
        self.n[self.pos : self.pos + size] = np.asarray(batch.column("n"), dtype=np.uint32)
        for prop, array in self.sum_arrays.items():
            start = self.sum_start[prop][group]
            has = start >= 0
            if not has.any():
                continue
            values = np.asarray(batch.column(f"sum_{prop}").fill_null(0.0), dtype=np.float64)
            at = start[has] + (rows[has] - self.bounds[group[has]])
            array[at] = values[has]
        self.pos += size

    def finish(self, any_batches: Iterable[pa.RecordBatch], any_rows: int) -> None:
        """Write the per (day, user) rows over all events (columns ``d``, ``uid``, ``n``),
        then the offsets and the metadata."""
        any_uid = open_memmap(
            self.target / "any_uid.npy", mode="w+", dtype=np.uint32, shape=(any_rows,)
        )
        any_n = open_memmap(
            self.target / "any_n.npy", mode="w+", dtype=np.uint32, shape=(any_rows,)
        )
        any_counts = np.zeros((1, self.n_blocks, self.n_days), dtype=np.int64)
        pos = 0
        for batch in any_batches:
            size = batch.num_rows
            uids = np.asarray(batch.column("uid"), dtype=np.uint32)
            any_uid[pos : pos + size] = uids
            any_n[pos : pos + size] = np.asarray(batch.column("n"), dtype=np.uint32)
            days = np.asarray(batch.column("d"), dtype=np.int64)
            key = (uids >> BLOCK_BITS).astype(np.int64) * self.n_days + days
            any_counts += np.bincount(key, minlength=any_counts.size).reshape(any_counts.shape)
            pos += size
        if pos != any_rows or self.pos != int(self.bounds[-1]):
            raise RuntimeError("the rollup changed while its index was written")
        offsets = np.concatenate(
            [_offsets(self.counts, self.bounds[:-1]), _offsets(any_counts, np.zeros(1, np.int64))]
        )
        np.save(self.target / "offsets.npy", offsets)
        for array in [self.uid, self.n, any_uid, any_n, *self.sum_arrays.values()]:
            array.flush()
        meta = {
            "format": 2,
            "block": BLOCK,
            "blocks": self.n_blocks,
            "first_day": self.first_day.isoformat(),
            "days": self.n_days,
            "sums": self.sums,
            "groups": [
                {"event": g.event, "business_line": g.business_line, "rows": g.rows, "sums": g.sums}
                for g in self.groups
            ],
        }
        (self.target / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), "utf-8")


def _offsets(counts: npt.NDArray[np.int64], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """offsets[g, b, d]: first row of group g, user block b, day d (rows are ordered by
    group, block, day, user); d = days is where the block ends."""
    groups, blocks, days = counts.shape
    flat = counts.reshape(groups, blocks * days)
    cum = np.zeros((groups, blocks * days + 1), dtype=np.int64)
    cum[:, 1:] = np.cumsum(flat, axis=1)
    index = np.arange(blocks)[:, None] * days + np.arange(days + 1)[None, :]
    return starts[:, None, None] + cum[:, index]


def _bitmap(mask: npt.NDArray[np.bool_]) -> BitMap:
    return bitmap_from_mask(mask)


class RollupIndex:
    """Reads the rollup index of a profile version (arrays are memory-mapped)."""

    def __init__(self, path: Path):
        meta = json.loads((path / META_FILE).read_text("utf-8"))
        if meta.get("format") != 2:
            raise ValueError(f"{path} is a rollup index of another version")
        self.path = path
        self.first_day = dt.date.fromisoformat(meta["first_day"])
        self.n_days = int(meta["days"])
        self.block = int(meta["block"])
        self.sums: list[str] = list(meta["sums"])
        self.groups = [
            Group(g["event"], g["business_line"], int(g["rows"]), dict(g["sums"]))
            for g in meta["groups"]
        ]
        self.offsets = np.load(path / "offsets.npy")  # [group (+ any), block, day]
        self.uid = np.load(path / "uid.npy", mmap_mode="r")
        self.n = np.load(path / "n.npy", mmap_mode="r")
        self.any_uid = np.load(path / "any_uid.npy", mmap_mode="r")
        self.any_n = np.load(path / "any_n.npy", mmap_mode="r")
        self._sum_arrays = {
            p: np.load(path / f"sum.{p}.npy", mmap_mode="r")
            for p in self.sums
            if (path / f"sum.{p}.npy").exists()
        }

    @property
    def events(self) -> list[str]:
        return sorted({g.event for g in self.groups})

    @property
    def business_lines(self) -> list[str]:
        return sorted({g.business_line for g in self.groups if g.business_line is not None})

    @property
    def last_day(self) -> dt.date:
        return self.first_day + dt.timedelta(days=self.n_days - 1)

    def _day_range(self, start: dt.date, end: dt.date) -> tuple[int, int] | None:
        """[d0, d1) day positions of the dates start..end (inclusive), clipped."""
        d0 = max((start - self.first_day).days, 0)
        d1 = min((end - self.first_day).days + 1, self.n_days)
        return (d0, d1) if d0 < d1 else None

    def _sources(
        self, measure: str, event: str | None, business_line: str | None, of: str | None
    ) -> list[tuple[int, npt.NDArray[Any], npt.NDArray[Any] | None, int]]:
        """(offsets row, uid array, weight array or None, weight shift) for each group read."""
        if event is None and business_line is None and measure != "sum":
            weights = self.any_n if measure == "count" else None
            return [(len(self.groups), self.any_uid, weights, 0)]
        out: list[tuple[int, npt.NDArray[Any], npt.NDArray[Any] | None, int]] = []
        for g, group in enumerate(self.groups):
            if event is not None and group.event != event:
                continue
            if business_line is not None and group.business_line != business_line:
                continue
            if measure == "count":
                out.append((g, self.uid, self.n, 0))
            elif measure == "sum":
                assert of is not None
                if of in group.sums:  # rows of groups without the property add nothing
                    shift = group.sums[of] - int(self.offsets[g, 0, 0])
                    out.append((g, self.uid, self._sum_arrays[of], shift))
            else:
                out.append((g, self.uid, None, 0))
        return out

    def measure(
        self,
        measure: str,
        start: dt.date,
        end: dt.date,
        n_users: int,
        *,
        event: str | None = None,
        business_line: str | None = None,
        of: str | None = None,
    ) -> npt.NDArray[np.float64]:
        """Per user (dense id): ``count`` of matching events, ``sum`` of property ``of``, or
        ``active_days`` (days with a matching event) on the days start..end."""
        out = np.zeros(n_users, dtype=np.float64)
        days = self._day_range(start, end) if n_users else None
        if days is None:
            return out
        d0, d1 = days
        sources = self._sources(measure, event, business_line, of)
        if measure == "active_days" and len(sources) > 1:
            return self._active_days([g for g, *_ in sources], d0, d1, n_users)
        # Block by block, so the histogram being filled stays in the CPU cache. Each block's
        # slices are copied once, straight into the types bincount works in.
        for b in range(min(self.offsets.shape[1], -(-n_users // self.block))):
            base = b * self.block
            slices = [
                (uids, weights, shift, int(self.offsets[row, b, d0]), int(self.offsets[row, b, d1]))
                for row, uids, weights, shift in sources
            ]
            total = sum(hi - lo for *_, lo, hi in slices)
            if not total:
                continue
            local = np.empty(total, dtype=np.int64)
            w = np.empty(total, dtype=np.float64) if measure != "active_days" else None
            at = 0
            for uids, weights, shift, lo, hi in slices:
                np.subtract(uids[lo:hi], base, out=local[at : at + hi - lo], casting="unsafe")
                if w is not None and weights is not None:
                    np.copyto(w[at : at + hi - lo], weights[shift + lo : shift + hi], "unsafe")
                at += hi - lo
            size = min(self.block, n_users - base)
            out[base : base + size] = np.bincount(local, weights=w, minlength=size)[:size]
        return out

    def _active_days(
        self, groups: list[int], d0: int, d1: int, n_users: int
    ) -> npt.NDArray[np.float64]:
        """Days with an event in any of several groups: users are merged day by day."""
        per_day = []
        blocks = self.offsets.shape[1]
        for d in range(d0, d1):
            day = BitMap.union(
                *(
                    bitmap_from_sorted(
                        np.concatenate(
                            [
                                self.uid[
                                    int(self.offsets[g, b, d]) : int(self.offsets[g, b, d + 1])
                                ]
                                for b in range(blocks)
                            ]
                        )
                    )
                    for g in groups
                )
            )
            if day:
                per_day.append(np.asarray(day.to_array(), dtype=np.uint32))
        if not per_day:
            return np.zeros(n_users, dtype=np.float64)
        return np.bincount(np.concatenate(per_day), minlength=n_users).astype(np.float64)

    def nbytes(self) -> int:
        """Bytes of the arrays (memory-mapped: resident only as far as they are read)."""
        arrays = [self.uid, self.n, self.any_uid, self.any_n, *self._sum_arrays.values()]
        return int(sum(a.nbytes for a in arrays) + self.offsets.nbytes)


def compare(values: npt.NDArray[np.float64], op: str, value: float | list[float]) -> BitMap:
    """Users whose value satisfies ``op value`` (``between`` takes [low, high], inclusive)."""
    if op == "between":
        assert isinstance(value, list)
        return _bitmap((values >= value[0]) & (values <= value[1]))
    assert not isinstance(value, list)
    match op:
        case "=":
            return _bitmap(values == value)
        case "!=":
            return _bitmap(values != value)
        case "<":
            return _bitmap(values < value)
        case "<=":
            return _bitmap(values <= value)
        case ">":
            return _bitmap(values > value)
        case ">=":
            return _bitmap(values >= value)
    raise ValueError(f"unknown comparison {op!r}")
