"""Subgroup discovery (子群发现): the few readable conjunctions of tag conditions that best
describe a target audience (``city = "北京" and age in (25, 30]``), found by beam search.

Notation: P the population, T the target (restricted to P), S a subgroup: the users of P
holding every condition of a conjunction. p(S) = |S| / |P|, p(T) = |T| / |P|,
p(T|S) = |S∩T| / |S| (the precision), lift = p(T|S) / p(T).

Quality measures (positive when the target is over-represented in S):

- ``"wracc"``, weighted relative accuracy (Lavrač, Kavšek, Flach & Todorovski 2004):
  WRAcc(S) = p(S) · (p(T|S) − p(T)) = (|S∩T|·|P| − |S|·|T|) / |P|², between −¼ and ¼
  (Piatetsky-Shapiro's measure, the leverage of S → T). It weighs support and precision
  equally, so it favours large subgroups. pysubgroup's ``WRAccQF``.
- ``"lift"``, Klösgen's measure: the generalised quality p(S)^a · (p(T|S) − p(T)) with a = ½,
  Q(S) = √p(S) · (p(T|S) − p(T)) = p(T) · √p(S) · (lift − 1). Lift tempered by the square root
  of the support: it ranks small, sharp subgroups higher than WRAcc does, without the plain
  lift's preference for a handful of users. pysubgroup's ``StandardQF(0.5)``.

Ranking uses the exact value of the measure (a rational function of the integer counts), so
ties are real ties; they are broken by fewer conditions first, then by the positions of the
conditions in the ``candidates`` list.

Search: level-wise beam search (as in exceptional model mining, Duivesteijn, Feelders &
Knobbe 2016, algorithm 1). Level 1 evaluates every candidate meeting the minimum support;
level d refines each of the ``beam`` best conjunctions of level d − 1 by one more candidate
of a tag it does not use yet (a conjunction reads each tag at most once), evaluating each new
conjunction once however many beam members reach it (a conjunction is a set of conditions).
The result is the ``top`` best conjunctions evaluated at any level whose quality is above 0.
The minimum support is anti-monotone: a candidate below it is never used, a refinement below
it is counted but neither evaluated nor refined.

Counting: everything is a bitmap intersection cardinality, never a per-user loop. Refining S
by a condition C costs two: |S ∩ C| and, when it meets the minimum support, |(S∩T) ∩ C|. Only
the beam's members are materialised (S and S∩T each), ``beam`` × 2 bitmaps per level.

Significance: each evaluated conjunction is tested against the rest of the population, P∖S:
the two-sided two-proportion z-test with pooled variance of |S∩T| / |S| against
|T∖S| / |P∖S| (:func:`portrait.stats.two_proportion_ztest`; the same p-value as Pearson's
chi-square test of the 2×2 table S/not S × T/not T without continuity correction, χ² = z²).
The family for the Benjamini–Hochberg correction (:func:`portrait.stats.multiple.adjust`) is
every conjunction the search evaluated, not only those returned: the search looked at them
all. A conjunction holding the whole population has no rest to compare with; its p-value is
NaN and it is left out of the family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from pyroaring import AbstractBitMap

from portrait.errors import InputError
from portrait.model.rules import And, Rule
from portrait.stats import two_proportion_ztest
from portrait.stats.multiple import adjust

Quality = Literal["wracc", "lift"]
QUALITIES: tuple[Quality, ...] = ("wracc", "lift")
MAX_DEPTH = 4


@dataclass(frozen=True)
class Candidate:
    """One condition a subgroup may use."""

    tag: str
    """The tag it reads: a conjunction uses at most one condition per tag."""
    label: str
    """Readable, e.g. ``city = "北京"`` or ``age in (25, 30]``."""
    condition: Rule
    """Its rule node(s): a TagCondition, or an And of two (a range)."""
    members: AbstractBitMap
    """The dense ids of the users holding it (may reach outside the population)."""


@dataclass(frozen=True)
class Subgroup:
    """A conjunction of candidates and how it relates to the target, within the population."""

    candidates: tuple[Candidate, ...]
    """In the order of the ``candidates`` given to :func:`discover`."""
    size: int
    """|S|."""
    positives: int
    """|S ∩ T|."""
    coverage: float
    """|S| / |P|."""
    precision: float
    """|S ∩ T| / |S|."""
    recall: float
    """|S ∩ T| / |T|."""
    lift: float
    """precision / (|T| / |P|)."""
    quality: float
    """The measure the search ranked by (``wracc`` or ``lift``: see the module)."""
    p_value: float
    """Two-sided two-proportion z-test of S against P∖S (= chi-square 2×2, no correction)."""
    p_adjusted: float
    """Benjamini–Hochberg over every conjunction the search evaluated."""
    significant: bool
    """p_adjusted < alpha."""
    tested: int
    """How many conjunctions the correction counted (the family's size)."""

    @property
    def label(self) -> str:
        """The conditions' labels joined by ``and``."""
        return " and ".join(c.label for c in self.candidates)

    def rule(self) -> Rule:
        """The And of the conditions (a range's two bounds inline), or the condition itself
        when there is one."""
        items: list[Rule] = []
        for candidate in self.candidates:
            condition = candidate.condition
            items.extend(condition.items if isinstance(condition, And) else [condition])
        return items[0] if len(items) == 1 else And(items=items)

    def to_dict(self) -> dict[str, Any]:
        """The subgroup as JSON can carry it: label, rule and numbers (NaN as None)."""
        return {
            "label": self.label,
            "rule": self.rule().model_dump(mode="json", exclude_none=True),
            "tags": [c.tag for c in self.candidates],
            "size": self.size,
            "positives": self.positives,
            "coverage": self.coverage,
            "precision": self.precision,
            "recall": self.recall,
            "lift": self.lift,
            "quality": self.quality,
            "p_value": None if math.isnan(self.p_value) else self.p_value,
            "p_adjusted": None if math.isnan(self.p_adjusted) else self.p_adjusted,
            "significant": self.significant,
        }


Conjunction = tuple[int, ...]
"""Positions in the candidate list, ascending."""


@dataclass(frozen=True)
class _Member:
    """A beam member, materialised: its users and its target users."""

    conjunction: Conjunction
    tags: frozenset[str]
    users: AbstractBitMap
    hits: AbstractBitMap


def discover(
    candidates: Sequence[Candidate],
    target: AbstractBitMap,
    population: AbstractBitMap,
    *,
    depth: int = 3,
    beam: int = 20,
    top: int = 10,
    min_support: int | float = 0.01,
    quality: Quality = "wracc",
    alpha: float = 0.05,
) -> list[Subgroup]:
    """The ``top`` best conjunctions of at most ``depth`` candidates (one per tag) describing
    ``target`` within ``population``, best first; only those of quality above 0.

    ``min_support``: an int is a number of users, a float in (0, 1) a share s of the
    population (at least ⌈s·|P|⌉ users). ``quality``: ``"wracc"`` or ``"lift"`` (Klösgen's
    √p(S)·(p(T|S) − p(T))). ``alpha``: the level of ``Subgroup.significant``."""
    _check_options(depth, beam, top, quality, alpha)
    if not candidates:
        raise InputError(
            "no candidates: subgroup discovery needs conditions to combine",
            where="candidates",
            hint="give the tag conditions (values, ranges) subgroups may use",
        )
    n_population = len(population)
    if n_population == 0:
        raise InputError("the population is empty", where="population")
    hits = target & population
    n_target = len(hits)
    if n_target == 0:
        raise InputError(
            "the target is empty (it holds no user of the population)",
            where="target",
            hint="check that the target and the population use the same dense user ids",
        )
    if n_target == n_population:
        raise InputError(
            "nothing to discover: the target holds every user of the population",
            where="target",
            hint="compare the target with a larger population",
        )
    threshold = _threshold(min_support, n_population)

    members = [_within(c.members, population) for c in candidates]
    tags = [c.tag for c in candidates]
    usable = [i for i, m in enumerate(members) if len(m) >= threshold]

    def score(size: int, positives: int) -> Fraction:
        """The measure's exact value up to a positive factor shared by all subgroups."""
        excess = positives * n_population - size * n_target  # |S∩T|·|P| − |S|·|T|
        if quality == "wracc":
            return Fraction(excess)  # times 1 / |P|²
        return Fraction(excess * abs(excess), size)  # Q² · |P|³ with Q's sign

    counts: dict[Conjunction, tuple[int, int]] = {}
    scores: dict[Conjunction, Fraction] = {}
    for i in usable:
        size, positives = len(members[i]), members[i].intersection_cardinality(hits)
        counts[(i,)] = (size, positives)
        scores[(i,)] = score(size, positives)
    level: dict[Conjunction, tuple[_Member | None, int]] = {(i,): (None, i) for i in usable}
    counted: set[Conjunction] = set(level)

    for _ in range(2, depth + 1):
        ranked = sorted(((c, scores[c]) for c in level), key=_rank)[:beam]
        frontier = [_materialise(c, *level[c], members, tags, hits) for c, _ in ranked]
        level = {}
        for parent in frontier:
            for j in usable:
                if tags[j] in parent.tags:
                    continue
                conjunction = tuple(sorted((*parent.conjunction, j)))
                if conjunction in counted:
                    continue
                counted.add(conjunction)
                size = parent.users.intersection_cardinality(members[j])
                if size < threshold:
                    continue
                positives = parent.hits.intersection_cardinality(members[j])
                counts[conjunction] = (size, positives)
                scores[conjunction] = score(size, positives)
                level[conjunction] = (parent, j)
        if not level:
            break

    return _report(candidates, counts, scores, n_population, n_target, top, quality, alpha)


def _rank(item: tuple[Conjunction, Fraction]) -> tuple[Fraction, int, Conjunction]:
    """Best first: the higher value, then fewer conditions, then the earlier candidates."""
    conjunction, value = item
    return -value, len(conjunction), conjunction


def _materialise(
    conjunction: Conjunction,
    parent: _Member | None,
    last: int,
    members: Sequence[AbstractBitMap],
    tags: Sequence[str],
    hits: AbstractBitMap,
) -> _Member:
    """A beam member's bitmaps: its parent's intersected with its last candidate."""
    if parent is None:
        return _Member(conjunction, frozenset([tags[last]]), members[last], members[last] & hits)
    return _Member(
        conjunction,
        parent.tags | {tags[last]},
        parent.users & members[last],
        parent.hits & members[last],
    )


def _report(
    candidates: Sequence[Candidate],
    counts: dict[Conjunction, tuple[int, int]],
    scores: dict[Conjunction, Fraction],
    n_population: int,
    n_target: int,
    top: int,
    quality: Quality,
    alpha: float,
) -> list[Subgroup]:
    """The best ``top`` positive subgroups with their statistics; p-values over the whole
    family of evaluated conjunctions, corrected together."""
    family = list(counts)
    size = np.array([counts[c][0] for c in family], dtype=np.int64)
    positives = np.array([counts[c][1] for c in family], dtype=np.int64)
    _, p = two_proportion_ztest(positives, size, n_target - positives, n_population - size)
    p_values = p.tolist()
    adjusted = adjust(p_values, "bh")
    tested = sum(1 for value in adjusted if value is not None)
    where = {c: k for k, c in enumerate(family)}

    best = sorted(((c, v) for c, v in scores.items() if v > 0), key=_rank)[:top]
    base = n_target / n_population
    out: list[Subgroup] = []
    for conjunction, _ in best:
        n, hit = counts[conjunction]
        k = where[conjunction]
        p_adjusted = adjusted[k]
        precision = hit / n
        excess = hit * n_population - n * n_target
        if quality == "wracc":
            value = excess / (n_population * n_population)
        else:
            value = excess / (n_population * math.sqrt(n * n_population))
        out.append(
            Subgroup(
                candidates=tuple(candidates[i] for i in conjunction),
                size=n,
                positives=hit,
                coverage=n / n_population,
                precision=precision,
                recall=hit / n_target,
                lift=precision / base,
                quality=value,
                p_value=float(p_values[k]),
                p_adjusted=math.nan if p_adjusted is None else p_adjusted,
                significant=p_adjusted is not None and p_adjusted < alpha,
                tested=tested,
            )
        )
    return out


def _within(members: AbstractBitMap, population: AbstractBitMap) -> AbstractBitMap:
    """``members ∩ population``, without a copy when the members are all inside."""
    inside = members.intersection_cardinality(population)
    return members if inside == len(members) else members & population


def _threshold(min_support: int | float, n_population: int) -> int:
    """The minimum support in users."""
    if isinstance(min_support, bool) or not isinstance(min_support, int | float):
        raise InputError(
            f"min_support is a number of users or a share, not {min_support!r}",
            where="min_support",
        )
    if isinstance(min_support, int):
        if not 1 <= min_support <= n_population:
            raise InputError(
                f"min_support counts users: between 1 and the population's {n_population},"
                f" not {min_support}",
                where="min_support",
                hint="give a share of the population as a float in (0, 1)",
            )
        return min_support
    if not 0 < min_support < 1:
        raise InputError(
            f"min_support as a share is between 0 and 1 (both excluded), not {min_support}",
            where="min_support",
            hint="give a number of users as an int",
        )
    return max(1, math.ceil(min_support * n_population - 1e-9))


def _check_options(depth: int, beam: int, top: int, quality: str, alpha: float) -> None:
    if not 1 <= depth <= MAX_DEPTH:
        raise InputError(
            f"depth is the number of conditions, from 1 to {MAX_DEPTH}, not {depth}",
            where="depth",
        )
    if beam < 1:
        raise InputError(f"the beam holds at least 1 subgroup, not {beam}", where="beam")
    if top < 1:
        raise InputError(f"top asks for at least 1 subgroup, not {top}", where="top")
    if quality not in QUALITIES:
        raise InputError(
            f"unknown quality measure '{quality}' (one of {', '.join(QUALITIES)})",
            where="quality",
        )
    if not 0 < alpha < 1:
        raise InputError(f"alpha is between 0 and 1 (both excluded), not {alpha}", where="alpha")
