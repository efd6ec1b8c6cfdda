"""Samples of an audience: members only, without repeats, ascending, the same for a seed."""

from __future__ import annotations

import numpy as np
import pytest
from pyroaring import BitMap

from portrait.audience.sampling import sample, sample_size
from portrait.errors import InputError

MEMBERS = BitMap(np.flatnonzero(np.random.default_rng(3).random(300_000) < 0.1).astype(np.uint32))


@pytest.mark.parametrize("n", [0, 1, 10, 1000, len(MEMBERS) - 1])
def test_a_sample_holds_n_distinct_members_ascending(n: int) -> None:
    drawn = sample(MEMBERS, n, seed=5)
    assert drawn.dtype == np.uint32 and drawn.size == n
    assert np.all(np.diff(drawn.astype(np.int64)) > 0)  # ascending, so no repeats
    assert BitMap(drawn.tolist()) <= MEMBERS


def test_the_seed_decides_the_sample() -> None:
    assert np.array_equal(sample(MEMBERS, 500, seed=1), sample(MEMBERS, 500, seed=1))
    assert not np.array_equal(sample(MEMBERS, 500, seed=1), sample(MEMBERS, 500, seed=2))


def test_draws_are_spread_over_the_members() -> None:
    """Every member is as likely: over many seeds, each half of the members gets about half."""
    ordered = np.asarray(MEMBERS.to_array())
    middle = ordered[ordered.size // 2]
    low = [np.count_nonzero(sample(MEMBERS, 100, seed=s) < middle) for s in range(200)]
    assert 0.45 < np.mean(low) / 100 < 0.55


@pytest.mark.parametrize("n", [len(MEMBERS), len(MEMBERS) + 7])
def test_asking_for_as_many_or_more_gives_every_member(n: int) -> None:
    assert sample(MEMBERS, n).tolist() == MEMBERS.to_array().tolist()
    assert sample(BitMap(), n).size == 0


def test_a_negative_size_is_refused() -> None:
    assert sample_size(0) == 0
    with pytest.raises(InputError, match="cannot be negative"):
        sample_size(-1)
    with pytest.raises(InputError, match="cannot be negative"):
        sample(MEMBERS, -3)
