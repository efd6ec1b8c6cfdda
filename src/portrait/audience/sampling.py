"""Reproducible samples of an audience's members."""

from __future__ import annotations

from typing import Any

import numpy as np
from pyroaring import AbstractBitMap

from portrait.errors import InputError


def sample_size(n: int) -> int:
    """``n`` when it is a usable sample size (checked before the members are looked up)."""
    if n < 0:
        raise InputError("the sample size cannot be negative")
    return n


def sample(members: AbstractBitMap, n: int, seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """``n`` members drawn without replacement, reproducibly for a seed (ascending ids); all
    of them when there are at most ``n``."""
    n = sample_size(n)
    uids = np.asarray(members.to_array(), dtype=np.uint32)
    if n >= uids.size:
        return uids
    rng = np.random.default_rng(seed)
    return np.sort(uids[rng.choice(uids.size, size=n, replace=False)])
