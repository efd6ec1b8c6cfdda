"""The rollup index measures every window exactly like a sum over its raw rows: with spans and
without (a format 2 index), windows aligned with the spans or not, over several blocks of
users; ``compare`` selects what numpy's comparisons select."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from pyroaring import BitMap

import portrait.index.rollup as rollup
from portrait.index.bitmaps import bitmap_from_mask
from portrait.index.rollup import RollupIndex, RollupWriter, add_spans, compare, span_ends

USERS = 1_000  # four blocks of 256
GROUPS = [("view", "a"), ("view", "b"), ("search", "a"), ("order", None)]
FIRST = dt.date(2025, 1, 1)


def _rows(days: int, seed: int) -> dict[str, npt.NDArray[Any]]:
    """Random rollup rows (group, day, uid, n, price), unique per (group, day, uid)."""
    rng = np.random.default_rng(seed)
    size = 30_000
    g = rng.integers(0, len(GROUPS), size)
    # recent days busier, as in the demo, and a few heavy users
    day = days - 1 - np.minimum(rng.geometric(3 / days, size) - 1, days - 1)
    uid = np.where(rng.random(size) < 0.2, rng.integers(0, 20, size), rng.integers(0, USERS, size))
    _, keep = np.unique(np.stack([g, day, uid]), axis=1, return_index=True)
    g, day, uid = g[keep], day[keep], uid[keep]
    n = rng.geometric(0.4, len(g)).astype(np.uint32)
    price = np.where(g == 0, rng.random(len(g)) * 100, np.nan)
    return {"g": g, "day": day, "uid": uid.astype(np.uint32), "n": n, "price": price}


def _write(target: Path, rows: dict[str, npt.NDArray[Any]], days: int, spans: bool) -> None:
    g, day, uid = rows["g"], rows["day"], rows["uid"]
    order = np.lexsort([uid, day, uid >> rollup.BLOCK_BITS, g])
    groups = [
        {
            "event": e,
            "business_line": line,
            "rows": int((g == i).sum()),
            "sum_price": int(((g == i) & ~np.isnan(rows["price"])).sum()),
        }
        for i, (e, line) in enumerate(GROUPS)
    ]
    writer = RollupWriter(target, groups, ["price"], FIRST, FIRST + dt.timedelta(days - 1), USERS)
    dates = np.array([FIRST + dt.timedelta(int(d)) for d in day[order]])
    for part in np.array_split(np.arange(len(order)), 3):  # several batches
        at = order[part]
        price = pa.array(rows["price"][at], mask=np.isnan(rows["price"][at]))
        writer.add(
            pa.record_batch(
                {
                    "day": pa.array(dates[part], type=pa.date32()),
                    "uid": pa.array(uid[at]),
                    "n": pa.array(rows["n"][at]),
                    "sum_price": price,
                }
            )
        )
    key = day.astype(np.int64) * USERS + uid
    distinct, inverse = np.unique(key, return_inverse=True)
    any_n = np.bincount(inverse, weights=rows["n"]).astype(np.uint32)
    any_day, any_uid = distinct // USERS, (distinct % USERS).astype(np.uint32)
    any_order = np.lexsort([any_uid, any_day, any_uid >> rollup.BLOCK_BITS])
    batch = pa.record_batch(
        {
            "d": pa.array(any_day[any_order].astype(np.int32)),
            "uid": pa.array(any_uid[any_order]),
            "n": pa.array(any_n[any_order]),
        }
    )
    if not spans:
        patch = pytest.MonkeyPatch()
        patch.setattr(rollup, "add_spans", lambda _target: False)
        try:
            writer.finish([batch], batch.num_rows)
        finally:
            patch.undo()
    else:
        writer.finish([batch], batch.num_rows)


def _expected(
    rows: dict[str, npt.NDArray[Any]],
    measure: str,
    d0: int,
    d1: int,
    event: str | None,
    line: str | None,
) -> npt.NDArray[np.float64]:
    wanted = [
        i
        for i, (e, ln) in enumerate(GROUPS)
        if (event is None or e == event) and (line is None or ln == line)
    ]
    inside = np.isin(rows["g"], wanted) & (rows["day"] >= d0) & (rows["day"] <= d1)
    uid = rows["uid"][inside]
    if measure == "count":
        return np.bincount(uid, weights=rows["n"][inside], minlength=USERS)
    if measure == "sum":
        return np.bincount(uid, weights=np.nan_to_num(rows["price"][inside]), minlength=USERS)
    days = np.unique(rows["day"][inside].astype(np.int64) * USERS + uid) % USERS
    return np.bincount(days, minlength=USERS).astype(np.float64)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollup, "BLOCK_BITS", 8)
    monkeypatch.setattr(rollup, "BLOCK", 256)


def test_span_ends() -> None:
    assert span_ends(20) == []
    assert span_ends(100) == [30, 60, 90]
    assert span_ends(365) == [30, 60, 90, 180, 365]
    assert span_ends(1_200) == [30, 60, 90, 180, 365, 730, 1_095]


SHAPES = [
    ("count", None, None),
    ("count", "view", None),
    ("count", "view", "a"),
    ("count", None, "a"),
    ("active_days", None, None),
    ("active_days", "search", "a"),
    ("active_days", "view", None),  # several groups: merged day by day
    ("sum", None, None),
    ("sum", "view", "a"),
]


@pytest.mark.parametrize("days", [20, 400, 800])
@pytest.mark.parametrize("spans", [True, False])
def test_measures_equal_sums_over_rows(tmp_path: Path, days: int, spans: bool) -> None:
    rows = _rows(days, seed=days)
    _write(tmp_path, rows, days, spans)
    index = RollupIndex(tmp_path)
    assert index.format == (3 if spans else 2)
    assert index.span_ends == (span_ends(days) if spans else [])
    last = days - 1
    windows = [(last - n + 1, last) for n in (1, 7, 29, 30, 31, 60, 61, 90, 180, 365, 366, 730)]
    windows += [(last - 40, last - 10), (0, last - 100), (-5, 3), (last - 200, last + 9)]
    rng = np.random.default_rng(days)
    windows += [tuple(sorted(rng.integers(-10, days + 10, 2).tolist())) for _ in range(12)]
    for d0, d1 in windows:
        start, end = FIRST + dt.timedelta(d0), FIRST + dt.timedelta(d1)
        for measure, event, line in SHAPES:
            got = index.measure(
                measure,
                start,
                end,
                USERS,
                event=event,
                business_line=line,
                of="price" if measure == "sum" else None,
            )
            want = _expected(rows, measure, max(d0, 0), d1, event, line)
            assert len(got) == USERS
            if measure == "sum":
                assert got.dtype == np.float64
                np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=f"{measure} {d0}")
            else:
                assert got.dtype.kind == "u"
                np.testing.assert_array_equal(got, want, err_msg=f"{measure} {d0}..{d1}")


def test_spans_added_to_a_format_2_index_and_its_links_untouched(tmp_path: Path) -> None:
    rows = _rows(400, seed=3)
    old, new = tmp_path / "old", tmp_path / "new"
    _write(old, rows, 400, spans=False)
    new.mkdir()
    for item in old.iterdir():  # what a build taking the rollup over does
        (new / item.name).hardlink_to(item)
    assert add_spans(new)
    assert not add_spans(new)  # once
    assert json.loads((old / "meta.json").read_text())["format"] == 2
    assert not (old / "span_uid.npy").exists()
    before, after = RollupIndex(old), RollupIndex(new)
    assert after.format == 3
    assert after.nbytes() > before.nbytes()
    end = FIRST + dt.timedelta(399)
    for measure in ("count", "active_days"):
        a = before.measure(measure, end - dt.timedelta(89), end, USERS)
        b = after.measure(measure, end - dt.timedelta(89), end, USERS)
        np.testing.assert_array_equal(a, b)


def test_spans_read_fewer_rows(tmp_path: Path) -> None:
    rows = _rows(400, seed=5)
    _write(tmp_path, rows, 400, spans=True)
    index = RollupIndex(tmp_path)
    sources = index._sources("active_days", None, None, None)
    read = sum(
        len(u)
        for b in range(index.offsets.shape[1])
        for u, _ in index._block_slices(sources, b, 400 - 90, 400, np.uint16)
    )
    day_rows = int(index.offsets[-1, :, 400].sum() - index.offsets[-1, :, 310].sum())
    assert read < day_rows / 2


def test_a_window_outside_the_days_is_all_zero(tmp_path: Path) -> None:
    _write(tmp_path, _rows(100, seed=1), 100, spans=True)
    index = RollupIndex(tmp_path)
    far = FIRST + dt.timedelta(1_000)
    for measure in ("count", "active_days", "sum"):
        values = index.measure(measure, far, far, USERS, of="price")
        assert len(values) == USERS
        assert not values.any()
    assert len(index.measure("count", FIRST, far, 0)) == 0


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.float64])
@pytest.mark.parametrize(("size", "step"), [(1_000, 1 << 18), (200_003, 1 << 18), (200_003, 8_000)])
def test_compare_selects_what_numpy_selects(
    monkeypatch: pytest.MonkeyPatch, dtype: type[np.generic], size: int, step: int
) -> None:
    monkeypatch.setattr(rollup, "COMPARE_STEP", step)
    rng = np.random.default_rng(1)
    values = rng.integers(0, 12, size).astype(dtype)
    for op, value in [
        ("=", 3.0),
        ("=", 3.5),
        ("!=", 0.0),
        ("<", 2.0),
        ("<", 2.5),
        ("<=", -1.0),
        (">", 3.0),
        (">", 3.5),
        (">=", 11.0),
        (">=", 1e20),
        ("between", [8.0, 10.0]),
        ("between", [2.5, 4.5]),
        ("between", [-3.0, 2.0]),
        ("between", [5.0, 1e9]),
        ("between", [7.0, 3.0]),
        ("between", [70_000.0, 80_000.0]),
        ("between", [0.0, 0.0]),
    ]:
        numbers = values.astype(np.float64)
        if isinstance(value, list):
            mask = (numbers >= value[0]) & (numbers <= value[1])
        else:
            mask = {
                "=": numbers == value,
                "!=": numbers != value,
                "<": numbers < value,
                "<=": numbers <= value,
                ">": numbers > value,
                ">=": numbers >= value,
            }[op]
        assert compare(values, op, value) == BitMap(np.flatnonzero(mask).tolist()), (op, value)


@pytest.mark.parametrize("size", [0, 1, 100, 65_536, 65_537, 300_000])
@pytest.mark.parametrize("share", [0.0, 0.01, 0.03, 0.0625, 0.5, 1.0])
def test_mask_bitmaps(size: int, share: float) -> None:
    rng = np.random.default_rng(size)
    mask = rng.random(size) < share
    if size >= 3 * 65_536:  # containers of exactly 4,096 and 4,097 users (array / bitset)
        mask[:65_536] = False
        mask[:4_096] = True
        mask[65_536 : 2 * 65_536] = False
        mask[65_536 : 65_536 + 4_097] = True
    assert rollup._bitmap(mask) == bitmap_from_mask(mask)
