"""The niche cube (:mod:`portrait.analysis.niches`) on synthetic data: cells, rates, means,
lifts and p-values against pandas, statsmodels and SciPy; every non-empty combination once;
highlights by their definition; Ward's merge against SciPy's Ward linkage and an all-pairs
greedy merge; ``cover`` and the group rules (read back by a small evaluator of the rule
model); the size and tag-count limits."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyroaring import BitMap
from scipy import stats
from scipy.cluster.hierarchy import fcluster, linkage
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from portrait.analysis import niches
from portrait.analysis.cells import OTHER, Cell
from portrait.analysis.insight import MISSING
from portrait.analysis.niches import MAX_CELLS, Metric, TagValues, check_size, combine, cover, cube
from portrait.errors import InputError
from portrait.model.rules import And, Not, Or, Rule, TagCondition
from portrait.rules import parse_rule

N = 3000


# -- synthetic tags ----------------------------------------------------------------------------
def _categorical(tag: str, labels: np.ndarray) -> TagValues:
    """A single-valued tag's cells from one label per user (None: missing)."""
    labels = np.array([None if pd.isna(v) else v for v in labels], dtype=object)
    cells = []
    for value in sorted({v for v in labels if v is not None}):
        members = BitMap(np.flatnonzero(labels == value).astype(np.uint32))
        condition = TagCondition(tag=tag, op="=", value=value)
        cells.append(Cell(tag, value, f"{tag} = {value}", condition, members))
    missing = np.array([v is None for v in labels])
    if missing.any():
        condition = TagCondition(tag=tag, op="is null")
        members = BitMap(np.flatnonzero(missing).astype(np.uint32))
        cells.append(Cell(tag, MISSING, f"{tag} is missing", condition, members))
    return TagValues(tag, cells, numeric=False, multi=False)


def _multi(tag: str, lists: Sequence[set[str]]) -> TagValues:
    """A multi-valued tag's (overlapping) cells; an empty set is missing."""
    cells = []
    for value in sorted(set().union(*lists)):
        members = BitMap([i for i, s in enumerate(lists) if value in s])
        condition = TagCondition(tag=tag, op="contains any", value=[value])
        cells.append(Cell(tag, value, f"{tag} has {value}", condition, members))
    members = BitMap([i for i, s in enumerate(lists) if not s])
    cells.append(
        Cell(tag, MISSING, f"{tag} is missing", TagCondition(tag=tag, op="is null"), members)
    )
    return TagValues(tag, cells, numeric=False, multi=True)


def _frame(seed: int) -> pd.DataFrame:
    """Users with tags a (4 values + missing), b (5 values, one rare), c (3 values), a target
    whose rate depends on a and b, and a spend with some users missing it."""
    rng = np.random.default_rng(seed)
    a = rng.choice(
        np.array(["a0", "a1", "a2", "a3", None], dtype=object), N, p=[0.3, 0.3, 0.2, 0.15, 0.05]
    )
    b = rng.choice(np.array(["b0", "b1", "b2", "b3"], dtype=object), N, p=[0.4, 0.3, 0.2, 0.1])
    b[a == "a0"] = np.where(b[a == "a0"] == "b0", "b1", b[a == "a0"])  # (a0, b0) is empty
    rare = rng.choice(N, 40, replace=False)
    b[rare] = "b9"  # a small value with a high rate: highlights
    c = rng.choice(np.array(["c0", "c1", "c2"], dtype=object), N)
    rate = 0.08 + 0.25 * ((a == "a1") & (b == "b2")) + 0.06 * (a == "a2") + 0.5 * (b == "b9")
    target = rng.random(N) < rate
    spend = rng.gamma(2.0, 50.0, N) * (1 + 1.5 * (a == "a3")) + 40 * (b == "b3")
    spend[rng.random(N) < 0.1] = np.nan
    return pd.DataFrame({"a": a, "b": b, "c": c, "target": target, "spend": spend})


def _tags(df: pd.DataFrame, names: Sequence[str] = ("a", "b")) -> list[TagValues]:
    return [_categorical(name, df[name].to_numpy(dtype=object)) for name in names]


def _rate(df: pd.DataFrame) -> Metric:
    return Metric("rate", "target", target=BitMap(np.flatnonzero(df["target"]).astype(np.uint32)))


def _mean(df: pd.DataFrame) -> Metric:
    spend = df["spend"].to_numpy()
    missing = BitMap(np.flatnonzero(np.isnan(spend)).astype(np.uint32))
    return Metric("mean", "spend", column=np.nan_to_num(spend, nan=0.0), missing=missing)


def _key(cell: dict[str, Any], names: Sequence[str] = ("a", "b")) -> tuple[str, ...]:
    return tuple(cell["values"][n] for n in names)


def _labelled(df: pd.DataFrame, names: Sequence[str] = ("a", "b")) -> pd.DataFrame:
    out = df.copy()
    for n in names:
        out[n] = out[n].fillna(MISSING)
    return out


# -- 1. the numbers of each cell -----------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("subset", [False, True])
def test_rate_cells_agree_with_pandas_and_statsmodels(seed: int, subset: bool) -> None:
    df = _frame(seed)
    universe = BitMap(range(N))
    if subset:  # a baseline: the universe is some of the users
        keep = np.random.default_rng(seed + 10).random(N) < 0.7
        universe = BitMap(np.flatnonzero(keep).astype(np.uint32))
        df_u = df[keep]
    else:
        df_u = df
    result = cube(_tags(df), universe, _rate(df), groups=4)
    ref = _labelled(df_u).groupby(["a", "b"]).agg(users=("target", "size"), pos=("target", "sum"))
    n_all, pos_all = len(df_u), int(df_u["target"].sum())
    assert result.universe_size == n_all and result.kind == "rate"
    assert result.overall == pytest.approx(pos_all / n_all, rel=1e-12)
    p_ref = {
        key: proportions_ztest([r.pos, pos_all - r.pos], [r.users, n_all - r.users])[1]
        for key, r in ref.iterrows()
    }
    keys = list(p_ref)
    q_ref = dict(
        zip(keys, multipletests([p_ref[k] for k in keys], method="fdr_bh")[1], strict=True)
    )
    assert sorted(_key(c) for c in result.cells) == sorted(keys)
    for cell in result.cells:
        key = _key(cell)
        row = ref.loc[key]
        assert cell["users"] == row.users, key
        assert round(cell["users"] * cell["metric"]) == row.pos  # positives
        assert cell["metric"] == pytest.approx(row.pos / row.users, rel=1e-12)
        assert cell["share"] == pytest.approx(row.users / n_all, rel=1e-12)
        assert cell["lift"] == pytest.approx((row.pos / row.users) / (pos_all / n_all), rel=1e-12)
        assert cell["p_value"] == pytest.approx(p_ref[key], rel=1e-9, abs=1e-300)
        assert cell["p_adjusted"] == pytest.approx(q_ref[key], rel=1e-9, abs=1e-300)
        assert cell["significant"] == (q_ref[key] < 0.05)
        assert cell["label"] == " and ".join(
            f"{n} is missing" if v == MISSING else f"{n} = {v}"
            for n, v in zip("ab", key, strict=True)
        )
    # best lift first
    lifts = [c["lift"] for c in result.cells]
    assert lifts == sorted(lifts, reverse=True)


@pytest.mark.parametrize("seed", [0, 3])
def test_mean_cells_agree_with_welch_t_tests_of_scipy(seed: int) -> None:
    df = _frame(seed)
    # one cell of a single user (no test) and one whose users have no value (no metric)
    df.loc[0, ["a", "b"]] = ["a3", "b7"]
    df.loc[[1, 2], ["a", "b"]] = ["a2", "b8"]
    df.loc[[1, 2], "spend"] = np.nan
    result = cube(_tags(df), BitMap(range(N)), _mean(df), groups=5)
    labelled = _labelled(df)
    known = labelled[labelled["spend"].notna()]
    assert result.overall == pytest.approx(known["spend"].mean(), rel=1e-12)
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for key, group in labelled.groupby(["a", "b"]):
        values = group["spend"].dropna().to_numpy()
        rest = known.drop(index=group.index, errors="ignore")["spend"].to_numpy()
        p = (
            float(stats.ttest_ind(values, rest, equal_var=False).pvalue)
            if values.size >= 2
            else None
        )
        expected[key] = {
            "users": len(group),
            "metric": float(values.mean()) if values.size else None,
            "p": p,
        }
    tested = [k for k, e in expected.items() if e["p"] is not None]
    q = dict(
        zip(
            tested,
            multipletests([expected[k]["p"] for k in tested], method="fdr_bh")[1],
            strict=True,
        )
    )
    assert sorted(_key(c) for c in result.cells) == sorted(expected)
    for cell in result.cells:
        key = _key(cell)
        e = expected[key]
        assert cell["users"] == e["users"], key
        assert cell["share"] == pytest.approx(e["users"] / N)
        if e["metric"] is None:
            assert cell["metric"] is None and cell["lift"] is None
        else:
            assert cell["metric"] == pytest.approx(e["metric"], rel=1e-9)
            assert cell["lift"] == pytest.approx(e["metric"] / known["spend"].mean(), rel=1e-9)
        if e["p"] is None:
            assert cell["p_value"] is None and cell["p_adjusted"] is None, key
            assert not cell["significant"]
        else:
            assert cell["p_value"] == pytest.approx(e["p"], rel=1e-6, abs=1e-300), key
            assert cell["p_adjusted"] == pytest.approx(q[key], rel=1e-6, abs=1e-300)
    assert {("a3", "b7"), ("a2", "b8")} <= set(expected)


# -- 2. the combinations ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_non_empty_combination_once_and_no_empty_one(seed: int) -> None:
    df = _frame(seed)
    rng = np.random.default_rng(seed)
    lists = [
        set(rng.choice(["m0", "m1", "m2"], rng.integers(0, 3), replace=False)) for _ in range(N)
    ]
    tags = [*_tags(df, ("a", "b", "c")), _multi("m", lists)]
    universe = BitMap(np.flatnonzero(rng.random(N) < 0.5).astype(np.uint32))
    for chosen in (tags[:2], tags[:3], [tags[0], tags[3]], tags):
        found = combine(chosen, universe)
        positions = [at for at, _ in found]
        assert len(positions) == len(set(positions))  # once each
        brute = {}
        for at in itertools.product(*(range(len(t.cells)) for t in chosen)):
            members = BitMap(universe)
            for t, i in zip(chosen, at, strict=True):
                members &= t.cells[i].members
            if members:
                brute[at] = members
        assert dict(found) == brute  # every non-empty one, with its users; no empty one
    # (a0, b0) is empty in every universe: never a cell
    result = cube(tags[:2], universe, _rate(df))
    keys = [_key(c) for c in result.cells]
    assert ("a0", "b0") not in keys and len(keys) == len(set(keys))
    assert len(keys) == len(combine(tags[:2], universe))


def test_cells_of_single_valued_tags_partition_the_universe() -> None:
    df = _frame(5)
    tags = _tags(df, ("a", "b", "c"))
    universe = BitMap(range(0, N, 3))
    found = combine(tags, universe)
    members = [m for _, m in found]
    assert sum(len(m) for m in members) == len(universe)
    assert BitMap.union(*members) == universe
    result = cube(tags, universe, _rate(df))
    assert sum(c["users"] for c in result.cells) == len(universe)
    assert sum(c["share"] for c in result.cells) == pytest.approx(1.0)


# -- 3. highlights ---------------------------------------------------------------------------------
def test_highlights_follow_their_definition() -> None:
    df = _frame(7)
    blocked_by: set[str] = set()
    for share, lift in [(0.05, 1.5), (0.02, 3.0), (0.2, 1.2)]:
        result = cube(
            _tags(df), BitMap(range(N)), _rate(df), highlight_share=share, highlight_lift=lift
        )
        assert any(c["highlight"] for c in result.cells)
        for cell in result.cells:
            significant = cell["p_adjusted"] is not None and cell["p_adjusted"] < niches.ALPHA
            assert cell["significant"] == significant
            holds = {
                "significance": significant,
                "share": cell["share"] <= share,
                "lift": cell["lift"] >= lift,
            }
            assert cell["highlight"] == all(holds.values()), cell["label"]
            failing = [k for k, v in holds.items() if not v]
            if len(failing) == 1:
                blocked_by.add(failing[0])
    # each condition alone keeps some cell from being a highlight
    assert blocked_by == {"significance", "share", "lift"}


# -- 4. merging ------------------------------------------------------------------------------------
def _evaluate(rule: Rule, values: dict[str, Any]) -> bool:
    """A rule of tag conditions on one user's values (None: missing; a set: multi-valued)."""
    if isinstance(rule, And):
        return all(_evaluate(r, values) for r in rule.items)
    if isinstance(rule, Or):
        return any(_evaluate(r, values) for r in rule.items)
    if isinstance(rule, Not):
        return not _evaluate(rule.item, values)
    assert isinstance(rule, TagCondition)
    v, op, x = values[rule.tag], rule.op, rule.value
    if op == "is null":
        return v is None
    if op == "is not null":
        return v is not None
    if v is None:
        return False
    if op == "contains any":
        return bool(set(v) & set(x))
    compare = {
        "=": lambda: v == x,
        "!=": lambda: v != x,
        "in": lambda: v in x,
        "not in": lambda: v not in x,
        "<": lambda: v < x,
        "<=": lambda: v <= x,
        ">": lambda: v > x,
        ">=": lambda: v >= x,
    }
    return bool(compare[op]())


def _tags_of(rule: Rule) -> set[str]:
    if isinstance(rule, And | Or):
        return set().union(*(_tags_of(r) for r in rule.items))
    if isinstance(rule, Not):
        return _tags_of(rule.item)
    assert isinstance(rule, TagCondition)
    return {rule.tag}


def _selected(rule_text: str, representatives: dict[Any, dict[str, Any]]) -> set[Any]:
    """The cells whose representative user the rule text selects ("" selects all)."""
    if not rule_text:
        return set(representatives)
    rule = parse_rule(rule_text)
    return {key for key, values in representatives.items() if _evaluate(rule, values)}


def _representatives(result: niches.Cube) -> dict[tuple[str, ...], dict[str, Any]]:
    return {
        _key(c, result.tags): {t: None if v == MISSING else v for t, v in c["values"].items()}
        for c in result.cells
    }


def _groups_as_cells(result: niches.Cube) -> list[frozenset[tuple[str, ...]]]:
    reps = _representatives(result)
    groups = [frozenset(_selected(g["rule"], reps)) for g in result.groups]
    for g, cells in zip(result.groups, groups, strict=True):
        assert len(cells) == g["cells"]
        labels = {c["label"]: _key(c, result.tags) for c in result.cells}
        assert {labels[label] for label in g["labels"]} <= cells
    return groups


def test_groups_partition_the_cells_with_a_metric() -> None:
    df = _frame(2)
    for metric, groups in ((_rate(df), 5), (_mean(df), 3)):
        result = cube(_tags(df), BitMap(range(N)), metric, groups=groups)
        measured = {_key(c) for c in result.cells if c["metric"] is not None}
        found = _groups_as_cells(result)
        assert len(found) == groups
        assert sum(len(g) for g in found) == len(measured)
        assert frozenset().union(*found) == measured  # disjoint and covering
        users = {_key(c): c["users"] for c in result.cells}
        for g, cells in zip(result.groups, found, strict=True):
            assert g["users"] == sum(users[k] for k in cells)  # single-valued: disjoint cells
            assert g["share"] == pytest.approx(g["users"] / N)
            assert g["lift"] == pytest.approx(g["metric"] / result.overall)
        metrics = [g["metric"] for g in result.groups]
        assert metrics == sorted(metrics, reverse=True)
    # a group's metric is that of its users
    rate = cube(_tags(df), BitMap(range(N)), _rate(df), groups=4)
    labelled = _labelled(df)
    keys = list(zip(labelled["a"], labelled["b"], strict=True))
    for g, cells in zip(rate.groups, _groups_as_cells(rate), strict=True):
        inside = np.array([k in cells for k in keys])
        assert g["metric"] == pytest.approx(df["target"][inside].mean(), rel=1e-12)


def test_with_as_many_groups_as_cells_nothing_merges() -> None:
    df = _frame(4)
    tags = _tags(df)
    cells = len(combine(tags, BitMap(range(N))))
    for groups in (cells, 50):
        result = cube(tags, BitMap(range(N)), _rate(df), groups=min(groups, 50))
        assert len(result.groups) == cells
        by_rule = {c["rule"]: c for c in result.cells}
        for g in result.groups:
            assert g["cells"] == 1
            cell = by_rule[g["rule"]]
            assert (g["users"], g["metric"], g["labels"]) == (
                cell["users"],
                cell["metric"],
                [cell["label"]],
            )


def _ward_all_pairs(items: list[tuple[Any, float, float]], k: int) -> set[frozenset[Any]]:
    """Greedy Ward over every pair (not only neighbours): (key, size, mean) items."""
    groups = [({key}, n, m) for key, n, m in items]
    while len(groups) > k:
        best = min(
            itertools.combinations(range(len(groups)), 2),
            key=lambda ij: (
                groups[ij[0]][1]
                * groups[ij[1]][1]
                / (groups[ij[0]][1] + groups[ij[1]][1])
                * (groups[ij[0]][2] - groups[ij[1]][2]) ** 2
            ),
        )
        (ka, na, ma), (kb, nb, mb) = groups[best[0]], groups[best[1]]
        merged = (ka | kb, na + nb, (na * ma + nb * mb) / (na + nb))
        groups = [g for i, g in enumerate(groups) if i not in best] + [merged]
    return {frozenset(g[0]) for g in groups}


def _ward_scipy(items: list[tuple[Any, float, float]], k: int) -> set[frozenset[Any]]:
    """SciPy's Ward linkage on every user, each given their cell's mean: a cell's users merge
    first (distance 0), then cells merge by Ward's criterion weighted by their sizes."""
    points = np.concatenate([np.full(int(n), m) for _, n, m in items])[:, None]
    owner = np.repeat(np.arange(len(items)), [int(n) for _, n, _ in items])
    labels = fcluster(linkage(points, method="ward"), t=k, criterion="maxclust")
    out: dict[int, set[Any]] = {}
    for i, (key, _, _) in enumerate(items):
        assert len(set(labels[owner == i])) == 1  # a cell is never split
        out.setdefault(int(labels[owner == i][0]), set()).add(key)
    return {frozenset(v) for v in out.values()}


@pytest.mark.parametrize("seed", range(4))
def test_ward_merge_equals_scipy_and_an_all_pairs_merge(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = 1500
    a = rng.choice(np.array([f"a{i}" for i in range(5)], dtype=object), n)
    b = rng.choice(np.array([f"b{i}" for i in range(4)], dtype=object), n)
    effect = {v: rng.normal(0, 30) for v in set(a) | set(b)}
    spend = rng.gamma(2.0, 40.0, n) + np.array(
        [effect[x] + effect[y] for x, y in zip(a, b, strict=True)]
    )
    df = pd.DataFrame({"a": a, "b": b, "spend": spend, "target": False})
    metric = Metric("mean", "spend", column=spend, missing=BitMap())  # no user without a value
    tags = _tags(df)
    for k in (1, 2, 3 + seed, 8):
        result = cube(tags, BitMap(range(n)), metric, groups=k)
        items = [(_key(c), float(c["users"]), c["metric"]) for c in result.cells]
        found = set(_groups_as_cells(result))
        assert found == _ward_all_pairs(items, k), k
        assert found == _ward_scipy(items, k), k


# -- 5. rules: cover and group_rule ----------------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_cover_holds_exactly_the_given_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dims = [int(d) for d in rng.integers(2, 6, 2 + seed % 2)]
    everything = list(itertools.product(*(range(d) for d in dims)))
    for share in (0.2, 0.5, 0.8, 1.0):
        chosen = [c for c in everything if rng.random() < share] or [everything[0]]
        boxes = cover(chosen)
        expanded = [cell for box in boxes for cell in itertools.product(*(sorted(s) for s in box))]
        assert set(expanded) == set(chosen)
        assert len(expanded) == len(chosen)  # the boxes do not overlap
        assert all(len(box) == len(dims) and all(box) for box in boxes)
    assert cover([]) == []


def test_cover_merges_a_full_product_into_one_box() -> None:
    full = list(itertools.product(range(3), range(4), range(2)))
    assert cover(full) == [(frozenset({0, 1, 2}), frozenset({0, 1, 2, 3}), frozenset({0, 1}))]
    part = list(itertools.product([0, 2], [1, 3]))
    assert cover(part) == [(frozenset({0, 2}), frozenset({1, 3}))]
    # an L shape needs two boxes
    assert len(cover([(0, 0), (0, 1), (1, 0)])) == 2


def _rule_tags() -> tuple[list[TagValues], dict[str, list[Any]]]:
    """Tags of every kind (values and (other), number bins, multi-valued, missing) and one
    representative value per cell."""
    empty = BitMap()
    cat = [
        Cell("a", v, f"a = {v}", TagCondition(tag="a", op="=", value=v), empty)
        for v in ("a0", "a1", "a2")
    ]
    cat.append(
        Cell(
            "a",
            OTHER,
            "a other",
            TagCondition(tag="a", op="not in", value=["a0", "a1", "a2"]),
            empty,
        )
    )
    cat.append(Cell("a", MISSING, "a is missing", TagCondition(tag="a", op="is null"), empty))
    n = [
        Cell("n", "≤ 10", "n ≤ 10", TagCondition(tag="n", op="<=", value=10), empty),
        Cell(
            "n",
            "(10, 20]",
            "n 11–20",
            And(
                items=[
                    TagCondition(tag="n", op=">", value=10),
                    TagCondition(tag="n", op="<=", value=20),
                ]
            ),
            empty,
        ),
        Cell("n", "(20, 21]", "n 21", TagCondition(tag="n", op="=", value=21), empty),
        Cell(
            "n",
            "(21, 40]",
            "n 22–40",
            And(
                items=[
                    TagCondition(tag="n", op=">", value=21),
                    TagCondition(tag="n", op="<=", value=40),
                ]
            ),
            empty,
        ),
        Cell("n", MISSING, "n is missing", TagCondition(tag="n", op="is null"), empty),
    ]
    m = [
        Cell("m", v, f"m has {v}", TagCondition(tag="m", op="contains any", value=[v]), empty)
        for v in ("m0", "m1", "m2")
    ]
    m.append(Cell("m", MISSING, "m is missing", TagCondition(tag="m", op="is null"), empty))
    tags = [
        TagValues("a", cat, numeric=False, multi=False),
        TagValues("n", n, numeric=True, multi=False),
        TagValues("m", m, numeric=False, multi=True),
    ]
    reps = {
        "a": ["a0", "a1", "a2", "zz", None],
        "n": [5, 15, 21, 30, None],
        "m": [{"m0"}, {"m1"}, {"m2"}, None],
    }
    return tags, reps


@pytest.mark.parametrize("seed", range(6))
def test_group_rules_select_exactly_their_cells(seed: int) -> None:
    tags, reps = _rule_tags()
    rng = np.random.default_rng(seed)
    for chosen_tags in ([0, 1], [0, 2], [1, 2], [0, 1, 2]):
        picked = [tags[i] for i in chosen_tags]
        everything = list(itertools.product(*(range(len(t.cells)) for t in picked)))
        representatives = {
            at: {t.tag: reps[t.tag][i] for t, i in zip(picked, at, strict=True)}
            for at in everything
        }
        for share in (0.15, 0.5, 0.85):
            chosen = [c for c in everything if rng.random() < share] or [everything[-1]]
            text = niches.group_rule(picked, chosen)
            assert _selected(text, representatives) == set(chosen), text
        assert niches.group_rule(picked, everything) == ""  # every user: no condition
        # all of one tag but part of another: the full tag drops out
        half = [at for at in everything if at[0] in (0, 1)]
        text = niches.group_rule(picked, half)
        assert _tags_of(parse_rule(text)) == {picked[0].tag}
        assert _selected(text, representatives) == set(half)


# -- 6. limits -------------------------------------------------------------------------------------
def _fake(tag: str, size: int) -> TagValues:
    members = BitMap([0])
    cells = [
        Cell(tag, str(i), f"{tag} = {i}", TagCondition(tag=tag, op="=", value=str(i)), members)
        for i in range(size)
    ]
    return TagValues(tag, cells, numeric=False, multi=False)


def test_check_size_refuses_more_than_max_cells_with_the_count_and_a_hint() -> None:
    assert MAX_CELLS == 100_000
    assert check_size([_fake("x", 100), _fake("y", 1000)]) == 100_000  # at the limit: allowed
    with pytest.raises(InputError) as raised:
        check_size([_fake("x", 50), _fake("y", 50), _fake("z", 41)])
    error = raised.value
    assert "102,500 cells" in error.message and "x 50 × y 50 × z 41" in error.message
    assert "100,000" in error.message
    assert error.where == "--tags"
    assert error.hint is not None and "--max-values" in error.hint and "fewer tags" in error.hint
    with pytest.raises(InputError, match="1,001 cells"):
        check_size([_fake("x", 7), _fake("y", 143)], max_cells=1000)
    with pytest.raises(InputError, match="cube would have"):
        cube(
            [_fake("x", 50), _fake("y", 50), _fake("z", 41)],
            BitMap([0]),
            Metric("rate", "t", target=BitMap([0])),
        )


@pytest.mark.parametrize("count", [0, 1, 5])
def test_cube_refuses_other_than_2_to_4_tags(count: int) -> None:
    tags = [_fake(f"t{i}", 2) for i in range(count)]
    with pytest.raises(InputError, match=f"2 to 4 tags, not {count}") as raised:
        cube(tags, BitMap([0]), Metric("rate", "t", target=BitMap([0])))
    assert raised.value.where == "--tags"


def test_cube_refuses_bad_groups_and_an_empty_universe() -> None:
    tags = [_fake("x", 2), _fake("y", 2)]
    metric = Metric("rate", "t", target=BitMap([0]))
    for groups in (0, 51):
        with pytest.raises(InputError, match="--groups") as raised:
            cube(tags, BitMap([0]), metric, groups=groups)
        assert raised.value.where == "--groups"
    with pytest.raises(InputError, match="no users") as empty:
        cube(tags, BitMap(), metric)
    assert empty.value.where == "--baseline"


# -- released counts -------------------------------------------------------------------------------
def _threshold(sets: Sequence[BitMap]) -> list[int | None]:
    """Exact counts, those under 10 suppressed (disclosure control without the noise)."""
    return [len(s) if len(s) >= 10 else None for s in sets]


@pytest.mark.parametrize("kind", ["rate", "mean"])
def test_suppressed_cells_show_no_derived_number(kind: str) -> None:
    df = _frame(8)
    metric = _rate(df) if kind == "rate" else _mean(df)
    result = cube(_tags(df), BitMap(range(N)), metric, release=_threshold)
    assert any(c["users"] is None for c in result.cells)  # the rare value's cells
    for cell in result.cells:
        assert cell["users"] is None or cell["users"] >= 10
        if cell["users"] is None:
            assert all(
                cell[k] is None for k in ("share", "metric", "lift", "p_value", "p_adjusted")
            )
            assert not cell["highlight"] and not cell["significant"]
    assert all(g["users"] is None or g["users"] >= 10 for g in result.groups)
