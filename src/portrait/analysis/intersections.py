"""Multi-level intersections of a cube's dimensions (多重交集): for every choice of 2, 3 or 4
different dimensions and one member of each, the users in all of them (bitmap intersections,
depth first: a choice whose first members share nobody is not extended).

The number of candidate cells is counted before anything is intersected and a cube over
:data:`MAX_CELLS` is refused with the count and how to narrow it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyroaring import AbstractBitMap

from portrait.errors import InputError

MAX_CELLS = 100_000


@dataclass(frozen=True)
class Member:
    """One member of a dimension: its label, the rule selecting it and its users."""

    dimension: str
    label: str
    rule: str
    members: AbstractBitMap


def candidate_count(dimensions: Sequence[Sequence[Member]], levels: Sequence[int]) -> int:
    """How many cells the levels could hold: Σ over choices of dimensions of the product of
    their member counts."""
    sizes = [len(d) for d in dimensions]
    return sum(
        math.prod(choice) for level in levels for choice in itertools.combinations(sizes, level)
    )


def intersections(
    dimensions: Sequence[Sequence[Member]],
    *,
    levels: Sequence[int] = (2, 3, 4),
    min_users: int = 1,
    max_cells: int = MAX_CELLS,
) -> list[tuple[tuple[Member, ...], AbstractBitMap]]:
    """Every cell of ``levels`` dimensions with at least ``min_users`` users, with its users
    (a member of each chosen dimension, dimensions in the cube's order)."""
    bad = [lv for lv in levels if not 2 <= lv <= 4]
    if bad:
        raise InputError(f"levels are 2, 3 or 4, not {bad[0]}", where="--levels")
    levels = sorted({lv for lv in levels if lv <= len(dimensions)})
    if not levels:
        raise InputError(
            f"the cube has {len(dimensions)} dimensions: no level asked for fits",
            where="--levels",
        )
    if min_users < 1:
        raise InputError("--min-users must be at least 1", where="--min-users")
    count = candidate_count(dimensions, levels)
    if count > max_cells:
        raise InputError(
            f"the cube could have {count:,} cells, more than {max_cells:,}",
            where="--levels",
            hint="ask for fewer levels (--levels 2), or give the dimensions fewer members "
            "(max_values of a tag dimension)",
        )
    found: list[tuple[tuple[Member, ...], AbstractBitMap]] = []

    def walk(
        chosen: Sequence[Sequence[Member]], at: tuple[Member, ...], users: AbstractBitMap | None
    ) -> None:
        if len(at) == len(chosen):
            assert users is not None
            found.append((at, users))
            return
        for member in chosen[len(at)]:
            inside = member.members if users is None else users & member.members
            if len(inside) >= min_users:
                walk(chosen, (*at, member), inside)

    for level in levels:
        for choice in itertools.combinations(dimensions, level):
            walk(choice, (), None)
    return found
