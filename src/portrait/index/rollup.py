"""The rollup index: the event rollup as memory-mapped arrays, sliced by day.

Rows of the rollup table (one per event, business line, UTC day and user; sorted that way)
are stored column-wise: ``uid.npy`` and ``n.npy`` (event count). An (event, business line)
pair is a *group*; ``offsets.npy[g, b, d]`` is where group ``g``'s rows of user block ``b``
and day ``d`` start, so a window is one contiguous slice per group and block. ``any_uid.npy``
/ ``any_n.npy`` hold the same per (day, user) over all events, for ``active_days`` and
event-less counts. Sums of numeric properties are stored for the groups that have values
(``sum.<property>.npy``).

*Spans* (format 3) hold the same rows added up over longer stretches of days counted back
from the last day: the last 30 days, days 31-60, 61-90, 91-180, 181-365, then a year each
(``SPAN_ENDS``). A span row is one per (group, block, span, user) with the user's events
(``span_n.npy``) and days with events (``span_days.npy``); ``any_span_*.npy`` likewise over
all events; ``span_offsets.npy[g, b, k]`` is where span ``k`` (0: the newest) starts. A
window reads the spans that lie inside it and the days at its edges that no span covers:
``last="30d"`` on the last day is one span, about 4x fewer rows than its 30 days (6x for
``active_days``), and 90 days are 3 spans. Sums read the days.

A measure over a window adds each row's count (or sum) into a per-user array with
``np.add.at`` (no copies of the rows, unlike ``bincount``), block by block so that the part
of the array being filled stays in the CPU cache (two threads over blocks were measured:
slower, ``ufunc.at`` mostly holds the GIL). Format 2 indexes (no spans) are still read, from
their days.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from numpy.lib.format import open_memmap
from pyroaring import BitMap

from portrait.index.bitmaps import bitmap_from_sorted

if TYPE_CHECKING:
    import pyarrow as pa

META_FILE = "meta.json"
BLOCK_BITS = 20  # = compile.rollup.ROLLUP_BLOCK_BITS
BLOCK = 1 << BLOCK_BITS
"""Users per block: rows are ordered by block inside a group, so a window's counts are
accumulated block by block into a histogram that stays in the CPU cache."""
_EPOCH = dt.date(1970, 1, 1)
FORMAT = 3
"""Index format written: 3 adds the spans to format 2 (which is still read)."""
SPAN_ENDS = (30, 60, 90, 180, 365)
"""Where spans end, in days back from the last day (then every further 365 days): windows of
30, 60, 90, 180 and 365 days ending on the last day (the as-of date unless set otherwise)
read spans only."""
SPAN_FILES = ("span_uid", "span_n", "span_days", "any_span_uid", "any_span_n", "any_span_days")


def span_ends(n_days: int) -> list[int]:
    """The span ends (days back from the last day) that fit in ``n_days`` days."""
    ends = [e for e in SPAN_ENDS if e <= n_days]
    year = SPAN_ENDS[-1]
    while ends and ends[-1] + year <= n_days:
        ends.append(ends[-1] + year)
    return ends


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
        self.spans_seconds = 0.0

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
        _write_meta(self.target, meta)
        started = time.perf_counter()
        add_spans(self.target)
        self.spans_seconds = time.perf_counter() - started


def _write_meta(target: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` as a new file (a taken-over index links the previous version's)."""
    tmp = target / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    tmp.replace(target / META_FILE)


def add_spans(target: Path) -> bool:
    """Add the spans to the index in ``target`` (format 2 → 3); False when it has them.

    A span row adds up a user's day rows of one group (or of all events) over the span's
    days: per (group, block, span) the rows are added into a per-user histogram with
    ``np.add.at`` and the users found are read back in order. About 2 s of CPU per 100M
    rows. Files are written new (a taken-over index hard-links the previous version's)."""
    meta = json.loads((target / META_FILE).read_text("utf-8"))
    if meta.get("format") == FORMAT:
        return False
    block = int(meta["block"])
    n_days = int(meta["days"])
    ends = span_ends(n_days)
    offsets = np.load(target / "offsets.npy")
    groups, blocks = offsets.shape[0] - 1, offsets.shape[1]
    day_lo = [n_days - e for e in ends]
    days = list(zip(day_lo, [n_days, *day_lo][: len(day_lo)], strict=True))
    longest = max((hi - lo for lo, hi in days), default=0)
    parts = [
        (target / "uid.npy", target / "n.npy", range(groups), "span_"),
        (target / "any_uid.npy", target / "any_n.npy", range(groups, groups + 1), "any_span_"),
    ]
    span_offsets = np.zeros((offsets.shape[0], blocks, len(ends) + 1), dtype=np.int64)
    largest = 0
    for uid_file, n_file, rows, prefix in parts:
        uid = np.load(uid_file, mmap_mode="r")
        n = np.load(n_file, mmap_mode="r")
        largest = max(largest, int(n.max()) if len(n) else 0)
        # a span adds up at most a year of days: 32 bits hold it unless a day has > 11M events
        count_type = np.uint64 if largest * longest >= 1 << 32 else np.uint32
        histograms = _Histograms(block, count_type)
        at = 0
        found = []
        for r in rows:
            for b in range(blocks):
                bounds = [(int(offsets[r, b, lo]), int(offsets[r, b, hi])) for lo, hi in days]
                spans = histograms.add_up(uid, n, bounds, b * block)
                for k, (users, _, _) in enumerate(spans):
                    span_offsets[r, b, k] = at
                    at += len(users)
                span_offsets[r, b, len(ends)] = at
                found.append(spans)
        pieces = [piece for spans in found for piece in spans]
        del found
        for column, (name, dtype) in enumerate(
            [("uid", np.uint32), ("n", count_type), ("days", np.uint16)]
        ):
            np.save(target / f"{prefix}{name}.npy", _joined([p[column] for p in pieces], dtype))
    np.save(target / "span_offsets.npy", span_offsets)
    meta.update(format=FORMAT, spans=ends, largest_n=largest)
    _write_meta(target, meta)
    return True


class _Histograms:
    """Histograms of one block of users (events and days), zero between uses."""

    def __init__(self, block: int, count_type: type[np.generic]):
        self.count_type = count_type
        self.events = np.zeros(block, dtype=count_type)
        self.days = np.zeros(block, dtype=np.uint16)

    def add_up(
        self,
        uid: npt.NDArray[np.uint32],
        n: npt.NDArray[Any],
        bounds: list[tuple[int, int]],
        base: int,
    ) -> list[tuple[Any, Any, Any]]:
        """(users, events, days) of each span whose rows are ``uid[lo:hi]``, ``n[lo:hi]``."""
        events, days = self.events, self.days
        one = np.uint16(1)  # ufunc.at is fast only when every operand has the array's type
        out: list[tuple[Any, Any, Any]] = []
        for lo, hi in bounds:
            if lo == hi:
                out.append((_NONE, _NONE, _NONE))
                continue
            at = np.subtract(uid[lo:hi], np.uint32(base), dtype=np.uint32)
            np.add.at(events, at, n[lo:hi].astype(self.count_type, copy=False))
            np.add.at(days, at, one)
            first, last = int(at.min()), int(at.max()) + 1
            found = np.flatnonzero(days[first:last] != 0) + first  # bools: 4x faster
            out.append(((found + base).astype(np.uint32), events[found], days[found]))
            events[found] = 0
            days[found] = 0
        return out


_NONE = np.zeros(0, dtype=np.uint32)


def _joined(parts: list[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _offsets(counts: npt.NDArray[np.int64], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """offsets[g, b, d]: first row of group g, user block b, day d (rows are ordered by
    group, block, day, user); d = days is where the block ends."""
    groups, blocks, days = counts.shape
    flat = counts.reshape(groups, blocks * days)
    cum = np.zeros((groups, blocks * days + 1), dtype=np.int64)
    cum[:, 1:] = np.cumsum(flat, axis=1)
    index = np.arange(blocks)[:, None] * days + np.arange(days + 1)[None, :]
    return starts[:, None, None] + cum[:, index]


_CHUNK = 1 << 16  # ids per Roaring container
_ARRAY_MAX = 4096  # a container of more ids is a bitset
_NO_RUNS_COOKIE = 12346  # the portable format's cookie without run containers


def _bitmap(mask: npt.NDArray[np.bool_]) -> BitMap:
    """A bitmap of the positions where ``mask`` is true."""
    if len(mask) < 2 * _CHUNK:
        return bitmap_from_sorted(np.flatnonzero(mask))
    return _from_bits(np.packbits(mask, bitorder="little"))


def _from_bits(packed: npt.NDArray[np.uint8]) -> BitMap:
    """A bitmap of the bits set in ``packed`` (``np.packbits(mask, bitorder="little")``),
    without listing them.

    The packed bits are every container's bitset, written in Roaring's portable format and
    read back. A container of 4,096 users or fewer must be an array there, so it is written
    complemented (a bitset of the users it does not hold) and flipped back with one ``xor``
    against whole containers, which makes the arrays. About 4 ms for 10M users, where adding
    the positions took 20-50 ms (``flatnonzero`` alone 10-15 ms)."""
    pad = -len(packed) % (_CHUNK // 8)
    if pad:
        packed = np.concatenate([packed, np.zeros(pad, dtype=np.uint8)])
    words = packed.view("<u8").reshape(-1, _CHUNK // 64)
    cards = np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    keys = np.flatnonzero(cards)
    if not len(keys):
        return BitMap()
    cards = cards[keys]
    chosen = words[keys]
    small = cards <= _ARRAY_MAX
    chosen[small] = ~chosen[small]
    described = np.empty((len(keys), 2), dtype="<u2")
    described[:, 0] = keys
    described[:, 1] = np.where(small, _CHUNK - cards, cards) - 1
    starts = 8 + 8 * len(keys) + _CHUNK // 8 * np.arange(len(keys), dtype=np.int64)
    head = np.array([_NO_RUNS_COOKIE, len(keys)], dtype="<u4")
    result = BitMap.deserialize(
        b"".join(
            [head.tobytes(), described.tobytes(), starts.astype("<u4").tobytes(), chosen.tobytes()]
        )
    )
    flip = keys[small]
    if not len(flip):
        return result
    whole = BitMap()
    for run in np.split(flip, np.flatnonzero(np.diff(flip) != 1) + 1):  # consecutive containers
        whole.add_range(int(run[0]) * _CHUNK, (int(run[-1]) + 1) * _CHUNK)
    return result ^ whole


Slice = tuple[npt.NDArray[Any], npt.NDArray[Any] | np.generic]
_Test = Callable[[npt.NDArray[Any]], npt.NDArray[np.bool_]]
"""Rows of one block to add: their uids and their weights (an array, or one value for all)."""


@dataclass(frozen=True)
class _Source:
    """One group (or all events) as a measure reads it: its day rows (offsets row, uids,
    weights or None for one per row, weight offset) and its span rows (uids, weights)."""

    row: int
    uid: npt.NDArray[Any]
    weights: npt.NDArray[Any] | None
    shift: int
    span_uid: npt.NDArray[Any] | None = None
    span_weights: npt.NDArray[Any] | None = None


class RollupIndex:
    """Reads the rollup index of a profile version (arrays are memory-mapped)."""

    def __init__(self, path: Path):
        meta = json.loads((path / META_FILE).read_text("utf-8"))
        if meta.get("format") not in (2, FORMAT):
            raise ValueError(f"{path} is a rollup index of another version")
        self.path = path
        self.format = int(meta["format"])
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
        self._largest: int | None = meta.get("largest_n")
        self.span_ends: list[int] = list(meta.get("spans") or [])
        self._spans: dict[str, npt.NDArray[Any]] = {}
        self.span_offsets = np.zeros((0, 0, 0), dtype=np.int64)
        if self.format == FORMAT:
            self.span_offsets = np.load(path / "span_offsets.npy")  # [group (+ any), block, span]
            self._spans = {f: np.load(path / f"{f}.npy", mmap_mode="r") for f in SPAN_FILES}

    @property
    def events(self) -> list[str]:
        return sorted({g.event for g in self.groups})

    @property
    def business_lines(self) -> list[str]:
        return sorted({g.business_line for g in self.groups if g.business_line is not None})

    @property
    def last_day(self) -> dt.date:
        return self.first_day + dt.timedelta(days=self.n_days - 1)

    @property
    def largest(self) -> int:
        """The most events of one user on one day (over all events; read once for format 2)."""
        if self._largest is None:
            self._largest = int(self.any_n.max()) if len(self.any_n) else 0
        return self._largest

    def _day_range(self, start: dt.date, end: dt.date) -> tuple[int, int] | None:
        """[d0, d1) day positions of the dates start..end (inclusive), clipped."""
        d0 = max((start - self.first_day).days, 0)
        d1 = min((end - self.first_day).days + 1, self.n_days)
        return (d0, d1) if d0 < d1 else None

    def _span_range(self, d0: int, d1: int) -> tuple[int, int, int, int]:
        """The spans [k0, k1) inside the days [d0, d1) and the days [lo, hi) they cover
        (k0 = k1 and lo = hi = d1 when none does)."""
        k0 = k1 = 0
        lo = hi = d1
        for k, end in enumerate(self.span_ends):
            first, last = self.n_days - end, self.n_days - (self.span_ends[k - 1] if k else 0)
            if first >= d0 and last <= d1:
                if k1 == k0:
                    k0, hi = k, last
                k1, lo = k + 1, first
            elif k1 > k0:
                break
        return k0, k1, lo, hi

    def _sources(
        self, measure: str, event: str | None, business_line: str | None, of: str | None
    ) -> list[_Source]:
        """What a measure reads: one :class:`_Source` per group, or all events."""
        spans = self._spans
        if event is None and business_line is None and measure != "sum":
            if measure == "count":
                return [
                    _Source(
                        len(self.groups),
                        self.any_uid,
                        self.any_n,
                        0,
                        spans.get("any_span_uid"),
                        spans.get("any_span_n"),
                    )
                ]
            return [
                _Source(
                    len(self.groups),
                    self.any_uid,
                    None,
                    0,
                    spans.get("any_span_uid"),
                    spans.get("any_span_days"),
                )
            ]
        out: list[_Source] = []
        for g, group in enumerate(self.groups):
            if event is not None and group.event != event:
                continue
            if business_line is not None and group.business_line != business_line:
                continue
            if measure == "count":
                out.append(
                    _Source(g, self.uid, self.n, 0, spans.get("span_uid"), spans.get("span_n"))
                )
            elif measure == "sum":
                assert of is not None
                if of in group.sums:  # rows of groups without the property add nothing
                    shift = group.sums[of] - int(self.offsets[g, 0, 0])
                    out.append(_Source(g, self.uid, self._sum_arrays[of], shift))
            else:
                out.append(
                    _Source(g, self.uid, None, 0, spans.get("span_uid"), spans.get("span_days"))
                )
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
    ) -> npt.NDArray[Any]:
        """Per user (dense id): ``count`` of matching events, ``sum`` of property ``of``, or
        ``active_days`` (days with a matching event) on the days start..end. Counts are
        unsigned integers (``uint16`` for days, ``uint32`` for events unless a window could
        hold more), sums ``float64``."""
        days = self._day_range(start, end) if n_users else None
        window = days[1] - days[0] if days else 0
        if measure == "sum":
            dtype: type[np.generic] = np.float64
        elif measure == "active_days":
            dtype = np.uint16 if window < 1 << 16 else np.uint32
        else:
            dtype = np.uint32 if window * self.largest < 1 << 32 else np.uint64
        if days is None:
            return np.zeros(n_users, dtype=dtype)
        d0, d1 = days
        sources = self._sources(measure, event, business_line, of)
        if measure == "active_days" and len(sources) > 1:
            return self._active_days([s.row for s in sources], d0, d1, n_users).astype(dtype)
        # users beyond n_users (none, when the rollup was built for the same population) are
        # counted past the end of the array and left out
        blocks = min(self.offsets.shape[1], -(-n_users // self.block))
        out = np.zeros(max(n_users, blocks * self.block), dtype=dtype)
        for b in range(blocks):  # one block's part of ``out`` stays in the CPU cache
            for uids, weights in self._block_slices(sources, b, d0, d1, dtype):
                np.add.at(out, uids, weights)
        return out[:n_users]

    def _block_slices(
        self, sources: list[_Source], b: int, d0: int, d1: int, dtype: type[np.generic]
    ) -> list[Slice]:
        """The rows of block ``b`` a window reads: its spans and the days around them."""
        k0, k1, lo, hi = self._span_range(d0, d1) if self.span_ends else (0, 0, d1, d1)
        one = dtype(1)
        slices: list[Slice] = []
        for s in sources:
            offsets = self.offsets[s.row, b]
            spans = None
            if k0 < k1 and s.span_uid is not None and s.span_weights is not None:
                spans = (s.span_uid, s.span_weights)
            for first, last in ((d0, lo), (hi, d1)) if spans else ((d0, d1),):
                a, z = int(offsets[first]), int(offsets[last])
                if a < z:
                    w = one if s.weights is None else s.weights[s.shift + a : s.shift + z]
                    slices.append((s.uid[a:z], w))
            if spans:
                a, z = int(self.span_offsets[s.row, b, k0]), int(self.span_offsets[s.row, b, k1])
                if a < z:
                    slices.append((spans[0][a:z], spans[1][a:z]))
        return [(u, w if isinstance(w, np.generic) else _typed(w, dtype)) for u, w in slices]

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
        arrays += list(self._spans.values())
        return int(sum(a.nbytes for a in arrays) + self.offsets.nbytes)


def _typed(weights: npt.NDArray[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
    """Weights in the type of the array they are added to (``ufunc.at`` takes a slow path,
    ~30x slower, when the types differ)."""
    return weights if weights.dtype == dtype else weights.astype(dtype)


def _bound(values: npt.NDArray[Any], value: float) -> float:
    """``value`` as an int when it is whole and the values are integers: numpy then compares
    in the values' own type instead of converting each to a float (twice as fast)."""
    if values.dtype.kind in "ui" and float(value).is_integer():
        return int(value)
    return value


COMPARE_STEP = 1 << 18
"""Values compared at a time (their masks stay in the CPU cache until packed)."""


def _test(values: npt.NDArray[Any], op: str, value: float | list[float]) -> _Test:
    """The comparison as a function of a slice of ``values``."""
    if op == "between":
        assert isinstance(value, list)
        low, high = _bound(values, value[0]), _bound(values, value[1])
        if values.dtype.kind == "u" and isinstance(low, int) and isinstance(high, int):
            # one pass: values below low wrap around past high - low
            low, high = max(low, 0), min(high, int(np.iinfo(values.dtype).max))
            if low > high:
                return lambda v: np.zeros(len(v), dtype=np.bool_)
            start, width = values.dtype.type(low), high - low
            return lambda v: np.subtract(v, start, dtype=v.dtype) <= width
        return lambda v: (v >= low) & (v <= high)
    assert not isinstance(value, list)
    bound = _bound(values, value)
    match op:
        case "=":
            return lambda v: v == bound
        case "!=":
            return lambda v: v != bound
        case "<":
            return lambda v: v < bound
        case "<=":
            return lambda v: v <= bound
        case ">":
            return lambda v: v > bound
        case ">=":
            return lambda v: v >= bound
    raise ValueError(f"unknown comparison {op!r}")


def compare(values: npt.NDArray[Any], op: str, value: float | list[float]) -> BitMap:
    """Users whose value satisfies ``op value`` (``between`` takes [low, high], inclusive)."""
    test = _test(values, op, value)
    if len(values) < 2 * _CHUNK:
        return _bitmap(test(values))
    packed = np.empty(-(-len(values) // 8), dtype=np.uint8)
    for at in range(0, len(values), COMPARE_STEP):  # a multiple of 8
        part = np.packbits(test(values[at : at + COMPARE_STEP]), bitorder="little")
        packed[at // 8 : at // 8 + len(part)] = part
    return _from_bits(packed)
