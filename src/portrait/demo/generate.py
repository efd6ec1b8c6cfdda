"""Synthetic demo data for a 58.com-like classifieds platform with a beauty e-commerce shop.

The generator writes three Parquet data sets, one file per chunk of users::

    out_dir/users/part-00000.parquet
    out_dir/events/part-00000.parquet
    out_dir/orders/part-00000.parquet

Everything is vectorised with numpy and pyarrow (no per-event Python loops), memory is bounded
by ``chunk_users`` and the output is deterministic for the same ``(users, seed, chunk_users)``:
chunk ``i`` draws from ``np.random.default_rng([seed, i])``.

What is drawn (lines, users, products, planted patterns, weights) is the scenario of
:mod:`portrait.demo.scenario`; this module holds the code that draws it.

Timestamps are naive UTC; behaviour is planned in local time (Asia/Shanghai, UTC+8).

Longer than ~400 lines because it draws three tables from one random state per chunk (users,
then their events and orders, which depend on the users' traits); the scenario it draws from
is apart (:mod:`portrait.demo.scenario`).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from portrait.demo.scenario import (
    ACTIVITY_SIGMA,
    AGE_BAND_P,
    AGE_BANDS,
    ANCHOR_DAYS,
    AS_OF,
    BASKET_RULES,
    BASKET_SIZE_P,
    BEAUTY,
    BUSINESS_LINES,
    BUYER_SHARE,
    CAR,
    CAR_BRAND_P,
    CAR_BRANDS,
    CAR_PRICE_RANGE,
    CITIES,
    CITY_P,
    DISTRICT_NAMES,
    DISTRICT_P,
    EDU_CAP_BY_AGE,
    EDU_P,
    EDU_START_AGE,
    EDUCATION,
    EVENING_SHARE,
    EVENT_MIX,
    EVENT_SCALE,
    EVENTS,
    GENDERS,
    HOUR_W,
    HOUSE_AGE_P,
    HOUSE_AGES,
    ITEM_P,
    ITEM_PRICE,
    ITEMS,
    JOB,
    JOB_P,
    JOBS,
    LINE_INTENSITY,
    LINE_SHARE,
    LOCAL,
    NH,
    NH_AGE_W,
    NH_EVENING_SHARE,
    NH_WORK_W,
    ORDER_EVENT,
    P_FEMALE,
    P_GIVEN_NH,
    P_GIVEN_OTHER,
    PHONE_PREFIXES,
    REGISTRATION_START,
    RENT,
    RENT_TYPE_P,
    RENT_TYPES,
    SERVICE_P,
    SERVICES,
    SH,
    STICKY,
    TZ_S,
    WINDOW_DAYS,
    line_weights,
)
from portrait.errors import InputError
from portrait.progress import NullProgress, Progress, step

__all__ = ["AS_OF", "BUSINESS_LINES", "EVENTS", "ITEMS", "GeneratedData", "generate"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
CodeArray = npt.NDArray[np.int8]  # category codes; cast before arithmetic

_DAY_S: Final = 86_400
_EPOCH: Final = dt.date(1970, 1, 1)
_AS_OF_DAY: Final = (AS_OF - _EPOCH).days
_REG_START_DAY: Final = (REGISTRATION_START - _EPOCH).days
_COMPRESSION: Final = "zstd"
_RESOLUTION: Final = 1 << 16  # categorical draws are exact to 1/65536


def _table(weights: npt.ArrayLike) -> CodeArray:
    """Inverse-CDF lookup table(s) for :func:`_draw`.

    Each row of ``weights`` becomes a row of ``_RESOLUTION`` codes in which category ``k`` fills a
    share equal to its probability (to within 1/65536).
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    cdf = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
    grid = (np.arange(_RESOLUTION) + 0.5) / _RESOLUTION
    rows = [np.searchsorted(row, grid, side="right") for row in cdf]
    table = np.minimum(np.stack(rows), w.shape[1] - 1).astype(np.int8)
    result: CodeArray = table[0] if np.ndim(weights) == 1 else table
    return result


def _hour_weights(evening_share: float) -> FloatArray:
    """Weights of local hours 0-23 whose 19:00-24:00 share is exactly ``evening_share``."""
    w = HOUR_W.copy()
    evening = np.arange(24) >= 19
    w[evening] *= evening_share / w[evening].sum()
    w[~evening] *= (1 - evening_share) / w[~evening].sum()
    return w


_HOUR_TABLE: Final = _table(_hour_weights(EVENING_SHARE))
_EVENING_HOUR_TABLE: Final = _table(_hour_weights(NH_EVENING_SHARE))  # NH users' new_house events

# --------------------------------------------------------------------------- draw tables
_BATCH_USERS: Final = 16_384
"""Users per event batch (one Parquet row group); small arrays keep numpy in cache."""

_AGE_BAND_TABLE: Final = _table(AGE_BAND_P)
_EDU_TABLE: Final = _table(EDU_P)
_CITY_TABLE: Final = _table(CITY_P)
_EVENT_TABLE: Final = _table(EVENT_MIX)
_HOUSE_AGE_TABLE: Final = _table(HOUSE_AGE_P)
_RENT_TYPE_TABLE: Final = _table(RENT_TYPE_P)
_CAR_BRAND_TABLE: Final = _table(CAR_BRAND_P)
_DISTRICT_TABLE: Final = _table(DISTRICT_P)
_JOB_TABLE: Final = _table(JOB_P)
_SERVICE_TABLE: Final = _table(SERVICE_P)
_ITEM_TABLE: Final = _table(ITEM_P)
_BASKET_SIZE_TABLE: Final = _table(BASKET_SIZE_P)

_DICT8: Final = pa.dictionary(pa.int8(), pa.string())
_EVENT_BATCH_SCHEMA: Final = pa.schema(
    [
        ("user_id", pa.dictionary(pa.int32(), pa.string())),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("event", _DICT8),
        ("business_line", _DICT8),
        ("house_age", _DICT8),
        ("rent_type", _DICT8),
        ("car_brand", _DICT8),
        ("car_price", pa.float64()),
        ("district", _DICT8),
        ("job_category", _DICT8),
        ("service_type", _DICT8),
        ("item_category", _DICT8),
    ]
)
"""In-memory schema of event batches; files are written without it, so readers see strings."""
_EVENTS_DICTIONARY_COLUMNS: Final = [
    f.name for f in _EVENT_BATCH_SCHEMA if pa.types.is_dictionary(f.type) or f.name == "car_price"
]


@dataclass(frozen=True)
class GeneratedData:
    """What :func:`generate` wrote: one Parquet part per chunk for each data set."""

    users_paths: list[Path]
    events_paths: list[Path]
    orders_paths: list[Path]
    users: int
    events: int
    orders: int
    as_of: dt.date


def generate(
    out_dir: Path,
    *,
    users: int = 200_000,
    seed: int = 7,
    chunk_users: int = 100_000,
    progress: Progress | None = None,
) -> GeneratedData:
    """Write synthetic users, events and orders for ``users`` users under ``out_dir``.

    Users are processed in chunks of ``chunk_users``; chunk ``i`` writes
    ``users/part-{i:05d}.parquet``, ``events/part-{i:05d}.parquet`` and
    ``orders/part-{i:05d}.parquet``, drawing from ``np.random.default_rng([seed, i])``. Old
    ``part-*.parquet`` files in those folders are removed first so a glob never mixes runs. The
    output is identical for the same ``(users, seed, chunk_users)``; memory depends only on
    ``chunk_users``.
    """
    if users < 1:
        raise InputError(f"users must be at least 1, got {users}")
    if chunk_users < 1:
        raise InputError(f"chunk_users must be at least 1, got {chunk_users}")
    if seed < 0:
        raise InputError(f"seed must not be negative, got {seed}")
    out_dir = Path(out_dir)
    dirs = {name: out_dir / name for name in ("users", "events", "orders")}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("part-*.parquet"):
            stale.unlink()

    paths: dict[str, list[Path]] = {name: [] for name in dirs}
    n_events = n_orders = 0
    with (
        step(progress or NullProgress(), "generate demo data", users) as bar,
        _BackgroundWriter() as background,
    ):
        for index, first_user in enumerate(range(0, users, chunk_users)):
            part = f"part-{index:05d}.parquet"
            for name in dirs:
                paths[name].append(dirs[name] / part)
            rng = np.random.default_rng([seed, index])
            pop = _draw_population(rng, n=min(chunk_users, users - first_user), first=first_user)
            lifestyle = _lifestyle(np.random.default_rng([seed, index, LIFESTYLE_STREAM]), pop.n)
            table = _users_table(rng, pop)
            for name, column in lifestyle.items():
                table = table.append_column(name, column)
            background.submit(partial(_write, table, paths["users"][-1]))
            orders = _draw_orders(rng, pop, first_order=n_orders)
            background.submit(partial(_write, orders.table, paths["orders"][-1]))
            n_orders += orders.table.num_rows
            writer = pq.ParquetWriter(
                paths["events"][-1],
                _EVENT_BATCH_SCHEMA,
                compression=_COMPRESSION,
                use_dictionary=_EVENTS_DICTIONARY_COLUMNS,
                store_schema=False,
            )
            for batch in _event_batches(rng, pop, orders):
                background.submit(partial(writer.write_batch, batch))
                n_events += batch.num_rows
            background.submit(writer.close)
            bar.advance(pop.n)
    return GeneratedData(
        users_paths=paths["users"],
        events_paths=paths["events"],
        orders_paths=paths["orders"],
        users=users,
        events=n_events,
        orders=n_orders,
        as_of=AS_OF,
    )


# --------------------------------------------------------------------------- helpers
class _BackgroundWriter:
    """Runs Parquet writes on one worker thread so encoding overlaps with generation.

    Tasks run in submission order. At most ``max_pending`` tasks wait at a time, which bounds
    the memory held by batches not yet written; a failed task re-raises in the caller.
    """

    def __init__(self, max_pending: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portrait-demo-writer")
        self._pending: deque[Future[None]] = deque()
        self._max_pending = max_pending

    def submit(self, task: Callable[[], None]) -> None:
        """Queue ``task``; blocks while too many tasks are waiting."""
        self._pending.append(self._pool.submit(task))
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()

    def __enter__(self) -> _BackgroundWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                while self._pending:
                    self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _write(table: pa.Table, path: Path) -> None:
    """Write one Parquet part without the Arrow schema (dictionary columns read as strings)."""
    pq.write_table(table, path, compression=_COMPRESSION, store_schema=False)


def _draw(
    rng: np.random.Generator,
    table: CodeArray,
    size: int,
    group: npt.NDArray[np.integer] | None = None,
) -> CodeArray:
    """``size`` category codes from a :func:`_table`, one table lookup each.

    With ``group``, draw ``i`` uses row ``group[i]`` of a 2-D table.
    """
    u = rng.integers(0, _RESOLUTION, size, dtype=np.uint16)
    codes: CodeArray = (
        table[u] if group is None else table.ravel()[group.astype(np.int64) * _RESOLUTION + u]
    )
    return codes


def _strings(values: tuple[str, ...]) -> pa.Array:
    """A small string dictionary."""
    return pa.array(values, type=pa.string())


def _dict_column(
    codes: npt.NDArray[np.integer], values: pa.Array, *, wide: bool = False
) -> pa.DictionaryArray:
    """A dictionary-encoded string column from integer codes; negative codes become nulls.

    Indices are int8 (int32 when ``wide``). Files are written without the Arrow schema, so
    readers see plain ``string`` columns while Parquet stores them dictionary-encoded without
    hashing every value.
    """
    index_type = pa.int32() if wide else pa.int8()
    indices: npt.NDArray[np.signedinteger[Any]] = np.asarray(
        codes, dtype=np.int32 if wide else np.int8
    )
    valid = indices >= 0
    null_count = indices.size - int(np.count_nonzero(valid))
    validity = None
    if null_count:
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        indices = np.maximum(indices, 0)  # masked slots must still be in range
    buffers = [validity, pa.py_buffer(np.ascontiguousarray(indices))]
    index_array = pa.Array.from_buffers(index_type, indices.size, buffers, null_count)
    return pa.DictionaryArray.from_arrays(index_array, values)


def _timestamps(seconds: IntArray, micros: IntArray) -> pa.Array:
    """UTC ``timestamp[us, tz=UTC]`` from epoch seconds plus microseconds (zone-aware, so ingest
    does not read it in the workspace time zone)."""
    return pa.array(seconds * 1_000_000 + micros, type=pa.int64()).view(
        pa.timestamp("us", tz="UTC")
    )


def _prefixed_ids(prefix: str, numbers: IntArray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` as a string array, e.g. ``u00000042``."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _after_registration(s: IntArray, reg_s: IntArray) -> IntArray:
    """Move times that precede registration into the hour after it (keeping their spread).

    Registration ends by 22:00 local on the as-of date, so moved times stay on that date.
    """
    return np.where(s > reg_s, s, reg_s + 1 + s % 3_600)


def _normalised(weights: FloatArray, group: BoolArray, rates: tuple[float, float]) -> FloatArray:
    """Per-user probabilities proportional to ``weights`` averaging ``rates[g]`` within group g.

    ``group`` is True for group 1. Means are taken within the chunk, so planted rates hold
    closely for any chunk size.
    """
    p = np.zeros_like(weights)
    for flag, rate in ((False, rates[0]), (True, rates[1])):
        sel = group == flag
        if sel.any():
            p[sel] = rate * weights[sel] / weights[sel].mean()
    return np.clip(p, 0.0, 1.0)


# --------------------------------------------------------------------------- users
@dataclass(frozen=True)
class _Population:
    """Per-user arrays of one chunk (local index 0..n-1)."""

    n: int
    first: int
    user_ids: pa.Array
    female: BoolArray
    age: IntArray
    education: IntArray
    work_years: IntArray
    city: CodeArray
    reg_s: IntArray  # registration, epoch seconds UTC
    reg_us: IntArray
    members: BoolArray  # (n, lines)
    activity: FloatArray
    last_day: IntArray  # local day of the last event
    window_lo: IntArray  # first local day events may use
    anchor_lo: IntArray  # first local day of each membership's anchor event
    last_line: IntArray  # the line whose anchor event lands on last_day


def _draw_population(rng: np.random.Generator, *, n: int, first: int) -> _Population:
    """Demographics, memberships (new_house first, the rest conditionally) and recency."""
    female = rng.random(n) < P_FEMALE
    band = _draw(rng, _AGE_BAND_TABLE, n)
    lo, hi = AGE_BANDS[band, 0], AGE_BANDS[band, 1]
    age = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    education = np.minimum(_draw(rng, _EDU_TABLE, n), EDU_CAP_BY_AGE[age])
    work_years = np.clip(age - EDU_START_AGE[education] - rng.integers(0, 5, n), 0, age - 18)
    city = _draw(rng, _CITY_TABLE, n)
    # registration: 2019-01-01 .. as-of 22:00 local (UTC+8), more of it recently
    reg_span_s = (_AS_OF_DAY - _REG_START_DAY) * _DAY_S + 14 * 3_600
    reg_s = _REG_START_DAY * _DAY_S + (rng.random(n) ** 0.7 * reg_span_s).astype(np.int64)
    reg_us = rng.integers(0, 1_000, n) * 1_000  # millisecond precision
    reg_day = (reg_s + TZ_S) // _DAY_S  # local calendar day

    members = np.zeros((n, len(BUSINESS_LINES)), dtype=bool)
    nh_weight = NH_AGE_W[age] * NH_WORK_W[np.digitize(work_years, [5, 10])]
    members[:, NH] = rng.random(n) < np.clip(LINE_SHARE[NH] * nh_weight / nh_weight.mean(), 0, 1)
    nh = members[:, NH]
    weights = line_weights(age, female, education)
    for line, weight in weights.items():
        rates = (float(P_GIVEN_OTHER[line]), float(P_GIVEN_NH[line]))
        members[:, line] = rng.random(n) < _normalised(weight.astype(np.float64), nh, rates)
    if first == 0 and not members[0].any():
        members[0, LOCAL] = True  # user 0 carries the guaranteed as-of event

    activity = np.minimum(rng.lognormal(-(ACTIVITY_SIGMA**2) / 2, ACTIVITY_SIGMA, n), 40.0)
    segment = rng.random(n)  # 55% active this week, 25% within two months, 20% churned
    recency = np.select(
        [segment < 0.55, segment < 0.80],
        [np.minimum(rng.exponential(2.0, n).astype(np.int64), 6), rng.integers(7, 61, n)],
        rng.integers(61, 331, n),
    )
    if first == 0:
        recency[0] = 0
    return _Population(
        n=n,
        first=first,
        user_ids=_prefixed_ids("u", np.arange(first, first + n), 8),
        female=female,
        age=age,
        education=education,
        work_years=work_years,
        city=city,
        reg_s=reg_s,
        reg_us=reg_us,
        members=members,
        activity=activity,
        last_day=np.maximum(_AS_OF_DAY - recency, reg_day),
        window_lo=np.maximum(reg_day, _AS_OF_DAY - WINDOW_DAYS),
        anchor_lo=np.maximum(reg_day, _AS_OF_DAY - ANCHOR_DAYS),
        last_line=np.argmax(np.where(members, rng.random(members.shape), -1.0), axis=1),
    )


def _users_table(rng: np.random.Generator, pop: _Population) -> pa.Table:
    """The users part of a chunk."""
    prefix = _strings(PHONE_PREFIXES).take(pa.array(rng.integers(0, len(PHONE_PREFIXES), pop.n)))
    last4 = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10_000, pop.n)), pa.string()), 4, "0")
    return pa.table(
        {
            "user_id": pop.user_ids,
            "gender": _dict_column(pop.female.astype(np.int8), _strings(GENDERS)),
            "age": pa.array(pop.age.astype(np.int16)),
            "city": _dict_column(pop.city, _strings(CITIES)),
            "education": _dict_column(pop.education, _strings(EDUCATION)),
            "work_years": pa.array(pop.work_years.astype(np.int16)),
            "registered_at": _timestamps(pop.reg_s, pop.reg_us),
            "phone": pc.binary_join_element_wise(prefix, "****", last4, ""),  # masked PII
            # a reserved domain (RFC 2606): mail to it goes nowhere
            "email": pc.binary_join_element_wise(pop.user_ids, "@example.com", ""),
        }
    )


# --------------------------------------------------------------------------- lifestyle
LIFESTYLE_STREAM = 1
"""The lifestyle columns draw from their own stream (``[seed, chunk, 1]``), so adding them
left every other column as it was."""
PLANTED_PERSONAS = ("精打细算", "品质生活", "社交达人", "低频观望")
"""The planted personas (a users column ``planted_persona``, not a tag): the truth a
clustering of the lifestyle tags should find."""
_PERSONA_SHARES = (0.30, 0.25, 0.25, 0.20)
INTERESTS = ("美妆", "数码", "旅行", "家居", "运动")
# per persona: sessions a week (mean, sd), price sensitivity (mean, sd), shares in 30 days
# (Poisson mean), interest weights
_SESSIONS = ((7.0, 1.0), (3.0, 0.7), (14.0, 1.5), (0.5, 0.5))
_PRICE = ((0.85, 0.05), (0.1, 0.05), (0.5, 0.06), (0.6, 0.06))
_SHARES = (3.0, 1.0, 20.0, 0.1)
_INTEREST_WEIGHTS = (
    (0.10, 0.02, 0.03, 0.80, 0.05),
    (0.03, 0.80, 0.12, 0.02, 0.03),
    (0.70, 0.05, 0.15, 0.05, 0.05),
    (0.05, 0.05, 0.05, 0.05, 0.80),
)


def _lifestyle(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """The lifestyle columns of a chunk, drawn from its planted persona: sessions a week,
    price sensitivity, shares in 30 days and main interest differ by persona; the loyalty
    points (0–100,000) do not: a large-scale column that says nothing, which a clustering
    that forgets to standardise its features is led by."""
    persona = _draw(rng, _table(_PERSONA_SHARES), n)
    sessions_mean, sessions_sd = (np.array(v)[persona] for v in zip(*_SESSIONS, strict=True))
    price_mean, price_sd = (np.array(v)[persona] for v in zip(*_PRICE, strict=True))
    sessions = np.clip(np.rint(rng.normal(sessions_mean, sessions_sd)), 0, 30).astype(np.int16)
    price = np.clip(rng.normal(price_mean, price_sd), 0.0, 1.0).round(3)
    shares = np.minimum(rng.poisson(np.array(_SHARES)[persona]), 200).astype(np.int16)
    interest = np.empty(n, dtype=np.int64)
    for p, weights in enumerate(_INTEREST_WEIGHTS):
        mine = np.flatnonzero(persona == p)
        interest[mine] = _draw(rng, _table(weights), mine.size)
    points = np.clip(np.rint(rng.normal(50_000, 15_000, n)), 0, 100_000).astype(np.int32)
    return {
        "sessions_per_week": pa.array(sessions),
        "price_sensitivity": pa.array(price),
        "social_shares_30d": pa.array(shares),
        "main_interest": _dict_column(interest.astype(np.int8), _strings(INTERESTS)),
        "loyalty_points": pa.array(points),
        "planted_persona": _dict_column(persona.astype(np.int8), _strings(PLANTED_PERSONAS)),
    }


# --------------------------------------------------------------------------- orders
@dataclass(frozen=True)
class _Orders:
    """A chunk's beauty orders, sorted by (user, ts); ``primary`` is each basket's first pick."""

    user: IntArray
    s: IntArray
    us: IntArray
    primary: CodeArray
    table: pa.Table


def _draw_orders(rng: np.random.Generator, pop: _Population, *, first_order: int) -> _Orders:
    """Orders of the chunk's beauty buyers; ``order_id`` continues from ``first_order``."""
    beauty = np.flatnonzero(pop.members[:, BEAUTY])
    buyers = beauty[rng.random(beauty.size) < BUYER_SHARE]
    user = np.repeat(buyers, 1 + rng.poisson(0.8 * np.minimum(pop.activity[buyers], 5.0)))
    m = user.size
    lo, hi = pop.window_lo[user], pop.last_day[user]
    day = lo + (rng.random(m) * (hi - lo + 1)).astype(np.int64)
    hour = _draw(rng, _HOUR_TABLE, m).astype(np.int64)
    local_s = day * _DAY_S + hour * 3_600 + rng.integers(0, 3_600, m)
    s = _after_registration(local_s - TZ_S, pop.reg_s[user])
    us = rng.integers(0, 1_000, m) * 1_000
    basket, primary = _baskets(rng, pop.age[user])

    order = np.lexsort((us, s, user))
    user, s, us, primary, basket = user[order], s[order], us[order], primary[order], basket[order]
    _, cols = np.nonzero(basket)
    offsets = np.concatenate([[0], np.cumsum(basket.sum(axis=1))]).astype(np.int32)
    table = pa.table(
        {
            "order_id": _prefixed_ids("o", np.arange(first_order, first_order + m), 10),
            "user_id": _dict_column(user, pop.user_ids, wide=True),
            "ts": _timestamps(s, us),
            "amount": pa.array(np.round(basket @ ITEM_PRICE, 2), type=pa.float64()),
            "items": pa.ListArray.from_arrays(
                pa.array(offsets), _strings(ITEMS).take(pa.array(cols))
            ),
            "business_line": _dict_column(np.full(m, BEAUTY), _strings(BUSINESS_LINES)),
        }
    )
    return _Orders(user=user, s=s, us=us, primary=primary.astype(np.int8), table=table)


def _baskets(rng: np.random.Generator, age: IntArray) -> tuple[BoolArray, IntArray]:
    """Order baskets as a boolean (orders x items) matrix, plus each order's primary item.

    1-3 distinct items are drawn by popularity (Gumbel top-k), then the association rules add
    their consequents while the basket holds fewer than 4 items.
    """
    m = age.size
    ranked = np.argsort(-(np.log(ITEM_P) + rng.gumbel(size=(m, len(ITEMS)))), axis=1)
    size = 1 + _draw(rng, _BASKET_SIZE_TABLE, m)
    basket = np.zeros((m, len(ITEMS)), dtype=bool)
    rows = np.arange(m)
    for j in range(BASKET_SIZE_P.size):
        take = size > j
        basket[rows[take], ranked[take, j]] = True
    older = age >= 30
    for antecedent, consequent, young_p, old_p in BASKET_RULES:
        add = (
            basket[:, antecedent]
            & ~basket[:, consequent]
            & (basket.sum(axis=1) < 4)
            & (rng.random(m) < np.where(older, old_p, young_p))
        )
        basket[add, consequent] = True
    return basket, ranked[:, 0]


# --------------------------------------------------------------------------- events
def _event_batches(
    rng: np.random.Generator, pop: _Population, orders: _Orders
) -> Iterator[pa.RecordBatch]:
    """The chunk's events, sorted by (user, ts), in batches of ``_BATCH_USERS`` users."""
    for lo in range(0, pop.n, _BATCH_USERS):
        hi = min(lo + _BATCH_USERS, pop.n)
        batch = _event_batch(rng, pop, orders, lo, hi)
        if batch.num_rows:
            yield batch


def _event_batch(
    rng: np.random.Generator, pop: _Population, orders: _Orders, lo: int, hi: int
) -> pa.RecordBatch:
    """Events of local users ``lo .. hi - 1``: membership events plus their order events."""
    n_lines = len(BUSINESS_LINES)
    members = pop.members[lo:hi]
    # (user, line) memberships, line-major, with their event counts
    who = [np.flatnonzero(members[:, line]) + lo for line in range(n_lines)]
    pair_user = np.concatenate(who)
    pair_line = np.repeat(np.arange(n_lines), [w.size for w in who])
    lam = (
        EVENT_SCALE
        * LINE_INTENSITY[pair_line]
        * pop.activity[pair_user]
        * rng.gamma(2.0, 0.5, pair_user.size)
    )
    pair_count = 1 + rng.poisson(lam)
    ends = np.cumsum(pair_count)
    pair_start = ends - pair_count
    line_pairs = np.searchsorted(pair_line, np.arange(n_lines + 1))  # pair bounds per line
    line_events = np.concatenate([[0], ends])[line_pairs]  # event bounds per line
    e = int(ends[-1]) if ends.size else 0

    # days: uniform over the user's window, one anchor per membership inside the 360-day
    # window, and the user's last_line anchor exactly on the last active day
    user = np.repeat(pair_user, pair_count)
    day_lo = pop.window_lo[user]
    day_lo[pair_start] = pop.anchor_lo[pair_user]
    day_hi = pop.last_day[user]
    day = day_lo + (rng.random(e) * (day_hi - day_lo + 1)).astype(np.int64)
    is_last = pair_line == pop.last_line[pair_user]
    day[pair_start[is_last]] = pop.last_day[pair_user[is_last]]
    hour = _draw(rng, _HOUR_TABLE, e).astype(np.int64)
    nh = slice(line_events[NH], line_events[NH + 1])  # all new_house events are NH users'
    hour[nh] = _draw(rng, _EVENING_HOUR_TABLE, nh.stop - nh.start)
    s = day * _DAY_S + hour * 3_600 + rng.integers(0, 3_600, e) - TZ_S
    if pop.first == 0 and lo == 0:  # guarantee an event on the as-of date (20:00 local)
        s[pair_start[(pair_user == 0) & (pair_line == pop.last_line[0])]] = (
            _AS_OF_DAY * _DAY_S + 20 * 3_600 - TZ_S
        )
    s = _after_registration(s, pop.reg_s[user])
    us = rng.integers(0, 1_000, e) * 1_000
    line = np.repeat(pair_line, pair_count)
    event = _draw(rng, _EVENT_TABLE, e, line)

    props = _properties(rng, pop, pair_user, pair_count, line_pairs, line_events)

    # append this batch's order events (same ts as the order), then sort by (user, ts)
    o_lo, o_hi = np.searchsorted(orders.user, [lo, hi])
    o = slice(o_lo, o_hi)
    m = o_hi - o_lo
    user = np.concatenate([user, orders.user[o]])
    ts = np.concatenate([s * 1_000_000 + us, orders.s[o] * 1_000_000 + orders.us[o]])
    line = np.concatenate([line, np.full(m, BEAUTY)])
    event = np.concatenate([event, np.full(m, ORDER_EVENT)])
    price = np.concatenate([props.pop("car_price"), np.full(m, np.nan)])
    codes = {
        name: np.concatenate(
            [c, orders.primary[o] if name == "item_category" else np.full(m, -1, dtype=c.dtype)]
        )
        for name, c in props.items()
    }
    span_us = 500 * _DAY_S * 1_000_000  # x _BATCH_USERS still fits int64
    base_us = (_AS_OF_DAY - 400) * _DAY_S * 1_000_000
    order = np.argsort((user - lo) * span_us + (ts - base_us))
    price = price[order]
    users = pop.user_ids.slice(lo, hi - lo)
    columns = [
        _dict_column(user[order] - lo, users, wide=True),
        pa.array(ts[order], type=pa.int64()).view(pa.timestamp("us", tz="UTC")),
        _dict_column(event[order], _strings(EVENTS)),
        _dict_column(line[order], _strings(BUSINESS_LINES)),
        _dict_column(codes["house_age"][order], _strings(HOUSE_AGES)),
        _dict_column(codes["rent_type"][order], _strings(RENT_TYPES)),
        _dict_column(codes["car_brand"][order], _strings(CAR_BRANDS)),
        pa.array(price, mask=np.isnan(price), type=pa.float64()),
        _dict_column(codes["district"][order], _strings(DISTRICT_NAMES)),
        _dict_column(codes["job_category"][order], _strings(JOBS)),
        _dict_column(codes["service_type"][order], _strings(SERVICES)),
        _dict_column(codes["item_category"][order], _strings(ITEMS)),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=_EVENT_BATCH_SCHEMA)


def _properties(
    rng: np.random.Generator,
    pop: _Population,
    pair_user: IntArray,
    pair_count: IntArray,
    line_pairs: IntArray,
    line_events: IntArray,
) -> dict[str, npt.NDArray[np.generic]]:
    """Per-event property codes (-1 = null) and car prices (NaN = null), line by line.

    Each membership has a preferred value; an event uses it with probability ``STICKY`` and a
    fresh draw from the same distribution otherwise, so event-level shares follow the planted
    distributions and per-user modes stay meaningful.
    """
    e = int(line_events[-1])

    def pairs(line: int) -> slice:
        return slice(line_pairs[line], line_pairs[line + 1])

    def sticky(line: int, table: CodeArray, group: IntArray | None = None) -> CodeArray:
        counts = pair_count[pairs(line)]
        preferred = np.repeat(_draw(rng, table, counts.size, group), counts)
        ev_group = None if group is None else np.repeat(group, counts)
        fresh = _draw(rng, table, preferred.size, ev_group)
        return np.where(rng.random(preferred.size) < STICKY, preferred, fresh)

    def column(line: int, values: npt.NDArray[np.generic], fill: float = -1) -> npt.NDArray[Any]:
        out = np.full(e, fill, dtype=np.int8 if fill == -1 else np.float64)
        out[line_events[line] : line_events[line + 1]] = values
        return out

    nh_of = pop.members[:, NH].astype(np.int64)
    brand = sticky(CAR, _CAR_BRAND_TABLE, nh_of[pair_user[pairs(CAR)]])
    price_lo, price_hi = CAR_PRICE_RANGE[brand, 0], CAR_PRICE_RANGE[brand, 1]
    price = np.round(price_lo + (price_hi - price_lo) * rng.random(brand.size) ** 1.5, 2)
    city = np.repeat(pop.city[pair_user[pairs(NH)]].astype(np.int64), pair_count[pairs(NH)])
    high_edu = (pop.education[pair_user[pairs(JOB)]] >= 3).astype(np.int64)
    return {
        "house_age": column(SH, sticky(SH, _HOUSE_AGE_TABLE, nh_of[pair_user[pairs(SH)]])),
        "rent_type": column(RENT, sticky(RENT, _RENT_TYPE_TABLE, nh_of[pair_user[pairs(RENT)]])),
        "car_brand": column(CAR, brand),
        "car_price": column(CAR, price, fill=np.nan),
        "district": column(
            NH, city * DISTRICT_P.size + sticky(NH, _DISTRICT_TABLE).astype(np.int64)
        ),
        "job_category": column(JOB, sticky(JOB, _JOB_TABLE, high_edu)),
        "service_type": column(LOCAL, sticky(LOCAL, _SERVICE_TABLE)),
        "item_category": column(BEAUTY, sticky(BEAUTY, _ITEM_TABLE)),
    }
