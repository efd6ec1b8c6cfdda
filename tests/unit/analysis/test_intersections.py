"""Multi-level intersections (:mod:`portrait.analysis.intersections`) on synthetic bitmaps:
every non-empty cell of 2, 3 and 4 different dimensions exactly once with its users (against a
brute force over Python sets), ``min_users``, the candidate count, the size limit and the
levels refused."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from pyroaring import AbstractBitMap, BitMap

from portrait.analysis.intersections import MAX_CELLS, Member, candidate_count, intersections
from portrait.errors import InputError

Key = tuple[tuple[str, str], ...]


def _dimensions(sizes: Sequence[int], *, users: int = 400, seed: int = 5) -> list[list[Member]]:
    """Dimensions d0, d1, … of random overlapping members (some empty, some tiny, some
    covering most users), each a set of user ids."""
    rng = random.Random(seed)
    dims = []
    for d, size in enumerate(sizes):
        members = []
        for m in range(size):
            density = rng.choice([0.0, 0.01, 0.1, 0.3, 0.6, 0.9])
            ids = [u for u in range(users) if rng.random() < density]
            members.append(Member(f"d{d}", f"m{m}", f"d{d} = {m}", BitMap(ids)))
        dims.append(members)
    return dims


def _brute(
    dimensions: Sequence[Sequence[Member]], levels: Sequence[int], min_users: int = 1
) -> dict[Key, set[int]]:
    """Every cell with at least ``min_users`` users, by Python sets."""
    cells: dict[Key, set[int]] = {}
    for level in levels:
        for chosen in itertools.combinations(range(len(dimensions)), level):
            for members in itertools.product(*(dimensions[i] for i in chosen)):
                users = set.intersection(*(set(m.members) for m in members))
                if len(users) >= min_users:
                    cells[tuple((m.dimension, m.label) for m in members)] = users
    return cells


def _found(found: list[tuple[tuple[Member, ...], AbstractBitMap]]) -> dict[Key, set[int]]:
    keys = [tuple((m.dimension, m.label) for m in members) for members, _ in found]
    assert len(keys) == len(set(keys)), "a cell appears twice"
    return {k: set(users) for k, (_, users) in zip(keys, found, strict=True)}


@pytest.mark.parametrize(
    ("sizes", "levels"),
    [
        ([3, 2, 4, 3], (2, 3, 4)),
        ([3, 2, 4, 3, 2], (2, 3, 4)),
        ([2, 3], (2,)),
        ([4, 1, 3, 2, 2], (3,)),
        ([2, 2, 2, 2, 2, 2], (4, 2)),
    ],
)
def test_every_non_empty_cell_appears_once_with_its_users(
    sizes: list[int], levels: tuple[int, ...]
) -> None:
    dims = _dimensions(sizes)
    found = intersections(dims, levels=levels)
    expected = _brute(dims, levels)
    assert _found(found) == expected
    assert any(len(k) == max(levels) for k in expected)
    for members, users in found:
        names = [m.dimension for m in members]
        assert len(set(names)) == len(names), "one member of each dimension"
        assert names == sorted(names, key=lambda n: int(n[1:])), "in the cube's order"
        assert len(members) in levels and len(users) >= 1


def test_empty_cells_are_left_out_and_extensions_of_empty_cells_too() -> None:
    a = [Member("a", "x", "a = 1", BitMap([1, 2, 3])), Member("a", "y", "a = 2", BitMap([9]))]
    b = [Member("b", "x", "b = 1", BitMap([2, 3, 4])), Member("b", "y", "b = 2", BitMap())]
    c = [Member("c", "x", "c = 1", BitMap([3, 9]))]
    found = _found(intersections([a, b, c], levels=[2, 3]))
    assert found == {
        (("a", "x"), ("b", "x")): {2, 3},
        (("a", "x"), ("c", "x")): {3},
        (("a", "y"), ("c", "x")): {9},
        (("b", "x"), ("c", "x")): {3},
        (("a", "x"), ("b", "x"), ("c", "x")): {3},
    }


@pytest.mark.parametrize("min_users", [1, 2, 10, 40, 150, 1000])
def test_min_users_leaves_out_smaller_cells(min_users: int) -> None:
    dims = _dimensions([3, 3, 2, 3], seed=9)
    found = _found(intersections(dims, min_users=min_users))
    assert found == _brute(dims, (2, 3, 4), min_users)
    assert all(len(users) >= min_users for users in found.values())


def test_min_users_below_1_is_refused() -> None:
    with pytest.raises(InputError, match="at least 1") as raised:
        intersections(_dimensions([2, 2]), min_users=0)
    assert raised.value.where == "--min-users"


@pytest.mark.parametrize(
    ("sizes", "levels"),
    [
        ([3, 2, 4, 3], (2, 3, 4)),
        ([3, 2, 4, 3], (2,)),
        ([5, 1, 7, 2, 3], (3, 4)),
        ([2, 2], (2,)),
        ([0, 3, 2], (2, 3)),
    ],
)
def test_candidate_count_counts_every_possible_cell(
    sizes: list[int], levels: tuple[int, ...]
) -> None:
    dims = _dimensions(sizes)
    brute = sum(
        1
        for level in levels
        for chosen in itertools.combinations(dims, level)
        for _ in itertools.product(*chosen)
    )
    assert candidate_count(dims, levels) == brute


def test_more_than_max_cells_is_refused_with_the_count_and_a_hint() -> None:
    dims = _dimensions([4, 4, 4, 4], users=20)
    count = candidate_count(dims, (2, 3, 4))
    assert count == 6 * 16 + 4 * 64 + 256 == 608
    assert len(intersections(dims, max_cells=608)) > 0  # at the limit: allowed
    with pytest.raises(InputError) as raised:
        intersections(dims, max_cells=607)
    error = raised.value
    assert "608 cells" in error.message and "more than 607" in error.message
    assert error.where == "--levels"
    assert error.hint and "--levels 2" in error.hint and "max_values" in error.hint
    # fewer levels fit under the same limit
    assert _found(intersections(dims, levels=[2], max_cells=607)) == _brute(dims, (2,))


def test_the_default_limit_is_max_cells() -> None:
    assert MAX_CELLS == 100_000
    # 8 dimensions of 50 members: refused before anything is intersected
    huge = [[Member(f"d{d}", f"m{m}", "", BitMap([m])) for m in range(50)] for d in range(8)]
    count = candidate_count(huge, (2, 3, 4))
    assert count == 28 * 50**2 + 56 * 50**3 + 70 * 50**4
    with pytest.raises(InputError, match=f"could have {count:,} cells, more than 100,000"):
        intersections(huge)
    with pytest.raises(InputError, match="could have 7,070,000 cells, more than 100,000"):
        intersections(huge, levels=[2, 3])
    # 28 · 2,500 = 70,000 cells of 2 levels fit: the 50 with a common user are found
    found = _found(intersections(huge, levels=[2]))
    assert len(found) == 28 * 50 and all(len(u) == 1 for u in found.values())


@pytest.mark.parametrize("levels", [[1], [5], [2, 5], [0, 2], [-1]])
def test_levels_outside_2_to_4_are_refused(levels: list[int]) -> None:
    bad = next(lv for lv in levels if not 2 <= lv <= 4)
    with pytest.raises(InputError, match=f"levels are 2, 3 or 4, not {bad}") as raised:
        intersections(_dimensions([2, 2, 2, 2, 2]), levels=levels)
    assert raised.value.where == "--levels"


@pytest.mark.parametrize(("sizes", "levels"), [([2, 2], [3]), ([2, 2], [3, 4]), ([2, 2, 2], [4])])
def test_levels_that_no_choice_of_dimensions_fits_are_refused(
    sizes: list[int], levels: list[int]
) -> None:
    with pytest.raises(InputError, match=f"has {len(sizes)} dimensions") as raised:
        intersections(_dimensions(sizes), levels=levels)
    assert raised.value.where == "--levels"


def test_levels_beyond_the_dimensions_are_dropped_when_some_fit() -> None:
    dims = _dimensions([3, 2, 3])
    assert _found(intersections(dims, levels=[2, 3, 4])) == _brute(dims, (2, 3))
