"""Deterministic assignment of users to the control holdout and the variants.

A user's bucket is a hash of (campaign salt, user id): the first 8 bytes of BLAKE2b read as an
integer, modulo 1,000,000. Groups own consecutive bucket ranges in proportion to their
percentages (the control first), so the split does not depend on the order users arrive in,
re-running gives the same groups, and a user keeps its group in every run of a recurring
campaign (the salt stays). Different salts give independent splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

BUCKETS = 1_000_000


def bucket(salt: str, user_id: str) -> int:
    """The user's bucket in 0 .. BUCKETS-1 for this salt."""
    digest = hashlib.blake2b(f"{salt}\x1f{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def buckets(salt: str, user_ids: Iterable[str]) -> npt.NDArray[np.int64]:
    """:func:`bucket` of every user id, as an array."""
    prefix = f"{salt}\x1f".encode()
    blake = hashlib.blake2b
    values = [
        int.from_bytes(blake(prefix + u.encode(), digest_size=8).digest(), "big") % BUCKETS
        for u in user_ids
    ]
    return np.asarray(values, dtype=np.int64)


def group_bounds(percents: Sequence[float]) -> npt.NDArray[np.int64]:
    """Upper bucket bound (exclusive) of each group, from percentages adding up to 100."""
    cumulative = np.cumsum(np.asarray(percents, dtype=np.float64)) / 100 * BUCKETS
    bounds = np.rint(cumulative).astype(np.int64)
    bounds[-1] = BUCKETS
    return bounds


def assign(salt: str, user_ids: Sequence[str], percents: Sequence[float]) -> npt.NDArray[np.int64]:
    """The group index (position in ``percents``) of every user."""
    return np.searchsorted(group_bounds(percents), buckets(salt, user_ids), side="right")
