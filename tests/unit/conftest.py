"""Fixtures shared by the unit tests of several packages."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from portrait.index import RangeIndex, ValueIndex

TAG_USERS = 300_000  # five 65,536-id chunks: bitsets, arrays and runs all occur
TAG_TYPES = {"city": "string", "items": "list<string>", "visits": "int", "spend": "float"}
"""The value type of each tag of :func:`tag_columns`."""
_CITY_SHARES = [0.4, 0.25, 0.12, 0.06, 0.05, 0.04, 0.03, 0.02, 0.005, 0.003]
_LIST_SHARES = [0.5, 0.2, 0.05, 0.03, 0.01, 0.002]


@pytest.fixture(scope="module")
def tag_columns() -> dict[str, list[object]]:
    """Four tags of :data:`TAG_USERS` users, one of each index layout: a single-valued string
    (some values held by 2-6% of users, some rare, some missing), a list (NULL lists too), a
    dense small integer and a sparse float (8% with a value)."""
    n = TAG_USERS
    rng = np.random.default_rng(7)
    cities = [f"c{i}" for i in range(len(_CITY_SHARES))]
    city = rng.choice([*cities, None], size=n, p=[*_CITY_SHARES, 1 - sum(_CITY_SHARES)])
    held = rng.random((n, len(_LIST_SHARES))) < np.array(_LIST_SHARES)
    items: list[object] = [[f"v{j}" for j in np.flatnonzero(row)] for row in held]
    items = [None if i % 97 == 0 else v for i, v in enumerate(items)]  # NULL lists, too
    visits = rng.choice([0, 1, 2, 3, 5, 8], size=n, p=[0.7, 0.15, 0.08, 0.04, 0.02, 0.01])
    spend = np.where(rng.random(n) < 0.08, rng.gamma(2.0, 300.0, n).round(2), np.nan)
    return {
        "city": list(city),
        "items": items,
        "visits": visits.tolist(),
        "spend": [None if np.isnan(v) else float(v) for v in spend],
    }


@pytest.fixture(scope="module")
def tag_indexes(tag_columns: dict[str, list[object]]) -> dict[str, ValueIndex | RangeIndex]:
    """The value or range index of each tag of :func:`tag_columns`."""
    arrow = {
        "city": pa.array(tag_columns["city"], pa.string()),
        "items": pa.array(tag_columns["items"], pa.list_(pa.string())),
        "visits": pa.array(tag_columns["visits"], pa.int64()),
        "spend": pa.array(tag_columns["spend"], pa.float64()),
    }
    return {
        name: (ValueIndex if TAG_TYPES[name] in ("string", "list<string>") else RangeIndex).build(a)
        for name, a in arrow.items()
    }
