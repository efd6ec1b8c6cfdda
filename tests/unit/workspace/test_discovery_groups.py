"""``ws.discovery.niche`` and ``ws.discovery.subgroups`` on a built demo: every rule they
write selects the users they report (counted and selected by the workspace itself, means read
from the profile with pandas); default tags; bad input; and what a viewer gets under
disclosure control (no small count, no number derived from one, the same noise when asked
again, a raised minimum support, no exact correlation)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from portrait.errors import AccessError, InputError, NotFoundError
from portrait.model.access import Caller
from portrait.model.rules import And, Not, Or, Rule, TagCondition
from portrait.rules import parse_rule
from portrait.workspace import Workspace
from tests.unit.workspace.demo_facts import ORDERS_TAGS

TARGET = "orders_365d >= 1"
VIEWER = Caller(actor="v", role="viewer")
DERIVED = ("share", "metric", "lift", "p_value", "p_adjusted")


def _profile(ws: Workspace) -> pd.DataFrame:
    """The profile, one row per dense user id."""
    return pq.read_table(ws.selector().profile.profile_file).to_pandas()


def _size(ws: Workspace, rule: str) -> int:
    return (
        int(ws.count(rule)["size"]) if rule else ws.count("age >= 0 or age is null")["population"]
    )


def _rule_tags(rule: Rule) -> set[str]:
    if isinstance(rule, And | Or):
        return set().union(*(_rule_tags(r) for r in rule.items))
    if isinstance(rule, Not):
        return _rule_tags(rule.item)
    assert isinstance(rule, TagCondition)
    return {rule.tag}


# -- 1. the rules select the users reported ------------------------------------------------------
def test_rate_cells_and_groups_rules_count_their_users_and_positives(demo_ws: Workspace) -> None:
    result = demo_ws.discovery.niche(["city", "age_band"], target=TARGET)
    population = 3000
    assert result.universe_size == population and result.kind == "rate"
    assert result.overall == pytest.approx(demo_ws.count(TARGET)["size"] / population)
    assert len(result.cells) > 50
    for cell in result.cells:
        rule = cell["rule"]
        assert demo_ws.count(rule)["size"] == cell["users"], rule
        positives = demo_ws.count(f"({rule}) and {TARGET}")["size"]
        assert round(cell["users"] * cell["metric"]) == positives, rule
        assert cell["share"] == pytest.approx(cell["users"] / population)
    assert len(result.groups) == 8
    assert sum(g["users"] for g in result.groups) == population  # every cell has a rate
    for group in result.groups:
        rule = group["rule"]
        assert rule, "a group of some cells has a condition"
        assert demo_ws.count(rule)["size"] == group["users"], rule
        positives = demo_ws.count(f"({rule}) and {TARGET}")["size"]
        assert round(group["users"] * group["metric"]) == positives
    # one group holds everyone: the empty rule
    (everyone,) = demo_ws.discovery.niche(["city", "age_band"], target=TARGET, groups=1).groups
    assert everyone["rule"] == "" and everyone["users"] == population
    assert everyone["metric"] == pytest.approx(result.overall)


def test_a_baseline_is_the_universe_of_the_cells(demo_ws: Workspace) -> None:
    baseline = 'gender = "女"'
    result = demo_ws.discovery.niche(
        ["education", "activity_level"], target=TARGET, baseline=baseline, groups=3
    )
    assert result.universe_size == demo_ws.count(baseline)["size"]
    inside = demo_ws.count(f"{baseline} and {TARGET}")["size"]
    assert result.overall == pytest.approx(inside / result.universe_size)
    for item in [*result.cells, *result.groups]:
        rule = item["rule"]
        assert demo_ws.count(f"({rule}) and {baseline}")["size"] == item["users"], rule
        positives = demo_ws.count(f"({rule}) and {baseline} and {TARGET}")["size"]
        assert round(item["users"] * item["metric"]) == positives


def test_mean_cells_and_groups_equal_pandas_over_the_users_their_rules_select(
    demo_ws: Workspace,
) -> None:
    result = demo_ws.discovery.niche(["city", "age_band"], metric="spend_365d", groups=5)
    spend = _profile(demo_ws)["spend_365d"]
    assert result.kind == "mean" and result.metric == "spend_365d"
    assert result.overall == pytest.approx(spend.dropna().mean(), rel=1e-9)
    for item in [*result.cells, *result.groups]:
        uids = demo_ws.select(item["rule"]).uids() if item["rule"] else range(len(spend))
        assert len(uids) == item["users"], item["rule"]
        values = spend.iloc[list(uids)].dropna()
        if values.empty:
            assert item["metric"] is None
        else:
            assert item["metric"] == pytest.approx(values.mean(), rel=1e-9), item["rule"]
            assert item["lift"] == pytest.approx(values.mean() / spend.dropna().mean(), rel=1e-9)
    assert len(result.groups) == 5


# -- 2. default tags ---------------------------------------------------------------------------------
def test_tags_default_to_the_targets_top_ranked_single_valued_tags(demo_ws: Workspace) -> None:
    types = demo_ws.selector().profile.tags
    ranked = [r["tag"] for r in demo_ws.discovery.rank(TARGET).rows]
    single = [t for t in ranked if not types[t].type.startswith("list")]
    assert len(single) < len(ranked)  # some multi-valued tags are ranked, and skipped
    assert demo_ws.discovery.niche(target=TARGET).tags == single[:3]
    cube = demo_ws.discovery.niche(target=TARGET, top_tags=2)
    assert cube.tags == single[:2]
    assert not set(cube.tags) & ORDERS_TAGS  # circular tags are not chosen


# -- 3. bad input ------------------------------------------------------------------------------------
def test_bad_input_is_refused_saying_where_and_nothing_is_saved(demo_ws: Workspace) -> None:
    demo_ws.segments.create("buyers", TARGET)
    before = demo_ws.segments.all()
    niche = demo_ws.discovery.niche
    cases: list[tuple[dict[str, Any], type[Exception], str, str | None]] = [
        (
            {"tags": ["city", "age_band"], "target": TARGET, "metric": "spend_365d"},
            InputError,
            "target audience or a numeric metric",
            "--target",
        ),
        (
            {"tags": ["city", "age_band"]},
            InputError,
            "target audience or a numeric metric",
            "--target",
        ),
        ({"tags": ["city"], "target": TARGET}, InputError, "2 to 4 tags, not 1", "--tags"),
        (
            {
                "tags": ["city", "age_band", "gender", "education", "activity_level"],
                "target": TARGET,
            },
            InputError,
            "2 to 4 tags, not 5",
            "--tags",
        ),
        ({"tags": ["city", "city"], "target": TARGET}, InputError, "named twice", "--tags"),
        (
            {"tags": ["city", "age_band"], "metric": "city"},
            InputError,
            "'city' is not numeric",
            "--metric",
        ),
        (
            {"tags": ["city", "age_band"], "target": TARGET, "max_values": 0},
            InputError,
            "--max-values",
            "--max-values",
        ),
        (
            {"tags": ["city", "age_band"], "target": TARGET, "groups": 0},
            InputError,
            "--groups",
            "--groups",
        ),
        (
            {"tags": ["cty", "age_band"], "target": TARGET},
            NotFoundError,
            "did you mean 'city'",
            None,
        ),
        (
            {"tags": ["city", "age_band"], "metric": "spnd_365d"},
            NotFoundError,
            "did you mean 'spend_365d'",
            None,
        ),
    ]
    for kwargs, error, message, where in cases:
        with pytest.raises(error, match=message) as raised:
            niche(**kwargs)
        if where is not None:
            assert raised.value.where == where, kwargs
    assert demo_ws.segments.all() == before


def test_unknown_tags_name_where(demo_ws: Workspace) -> None:
    with pytest.raises(NotFoundError) as tag:
        demo_ws.discovery.niche(["cty", "age_band"], target=TARGET)
    with pytest.raises(NotFoundError) as metric:
        demo_ws.discovery.niche(["city", "age_band"], metric="spnd_365d")
    assert (tag.value.where, metric.value.where) == ("--tags", "--metric")


def test_a_cube_over_100000_cells_is_refused_with_the_count(demo_ws: Workspace) -> None:
    tags = ["phone", "email", "city"]  # near-unique values: 100 each with --max-values 100
    sizes = [len(demo_ws.discovery.cells(t, max_values=100)) for t in tags]
    count = math.prod(sizes)
    assert count > 100_000
    with pytest.raises(InputError) as raised:
        demo_ws.discovery.niche(tags, target=TARGET, max_values=100)
    error = raised.value
    assert f"{count:,} cells" in error.message and "more than 100,000" in error.message
    assert " × ".join(f"{t} {n}" for t, n in zip(tags, sizes, strict=True)) in error.message
    assert error.where == "--tags" and error.hint and "--max-values" in error.hint
    assert demo_ws.segments.all() == []


def test_group_rules_of_a_multi_valued_tag_cut_by_max_values_count_their_users(
    demo_ws: Workspace,
) -> None:
    tags = ["preferred_car_brands", "gender"]
    for groups in (2, 1):
        result = demo_ws.discovery.niche(tags, target=TARGET, max_values=3, groups=groups)
        for cell in result.cells:
            assert demo_ws.count(cell["rule"])["size"] == cell["users"]
        for group in result.groups:
            assert _size(demo_ws, group["rule"]) == group["users"], group["rule"]


# -- 4. subgroups -----------------------------------------------------------------------------------
def test_subgroups_rules_count_their_size_and_positives_and_leave_out_circular_tags(
    demo_ws: Workspace,
) -> None:
    result = demo_ws.discovery.subgroups(TARGET, depth=2)
    rows = result["rows"]
    assert rows and result["target_size"] == demo_ws.count(TARGET)["size"]
    for row in rows:
        rule = row["rule"]
        assert demo_ws.count(rule)["size"] == row["size"], rule
        assert demo_ws.count(f"({rule}) and {TARGET}")["size"] == row["positives"], rule
        used = _rule_tags(parse_rule(rule))
        assert 1 <= len(used) <= 2 and used == set(row["tags"])
        assert not used & ORDERS_TAGS, rule
        assert row["precision"] == pytest.approx(row["positives"] / row["size"])
    left_out = {r["tag"] for r in result["left_out"]}
    assert left_out >= ORDERS_TAGS
    assert left_out == set(demo_ws.audiences.circular_tags(TARGET))
    assert all(r["why"] for r in result["left_out"])
    qualities = [r["quality"] for r in rows]
    assert qualities == sorted(qualities, reverse=True)


# -- 5. privacy: a viewer --------------------------------------------------------------------------
def test_a_viewer_sees_no_small_cell_nor_a_number_derived_from_one(demo_ws: Workspace) -> None:
    result = demo_ws.discovery.niche(
        ["city", "age"], baseline='gender = "女"', caller=VIEWER, target=TARGET
    )
    assert result.privacy is not None
    assert any(c["users"] is None for c in result.cells)  # tiny cells exist, and are hidden
    for cell in result.cells:
        assert cell["users"] is None or cell["users"] >= 10, cell["label"]
        if cell["users"] is None:
            assert all(cell[k] is None for k in DERIVED), cell["label"]
            assert not cell["significant"] and not cell["highlight"]
    for group in result.groups:
        assert group["users"] is None or group["users"] >= 10


def test_a_viewer_gets_the_same_noisy_numbers_when_asking_again(demo_ws: Workspace) -> None:
    """Differencing by repetition: the noise is keyed by the members counted, so asking the
    same cube again (in any order, or through ws.count) gives the same numbers, for free."""
    tags = ["gender", "activity_level"]
    first = demo_ws.discovery.niche(tags, target=TARGET, caller=VIEWER)
    spent = first.privacy["spent_today"]
    again = demo_ws.discovery.niche(tags, target=TARGET, caller=VIEWER)
    assert again.privacy["spent_today"] == spent  # asking again costs nothing
    assert {**first.to_dict(), "privacy": None} == {**again.to_dict(), "privacy": None}
    swapped = demo_ws.discovery.niche(tags[::-1], target=TARGET, caller=VIEWER)
    by_values = {frozenset(c["values"].items()): c for c in first.cells}
    for cell in swapped.cells:
        same = by_values[frozenset(cell["values"].items())]
        assert (cell["users"], cell["metric"]) == (same["users"], same["metric"])
    noisy = 0
    for cell in first.cells:
        assert cell["users"] is not None and cell["users"] >= 10
        assert demo_ws.count(cell["rule"], caller=VIEWER)["size"] == cell["users"]
        if cell["metric"] is None:  # positives suppressed: nothing derived from them
            assert all(cell[k] is None for k in ("metric", "lift", "p_value", "p_adjusted"))
            continue
        exact = demo_ws.count(cell["rule"])["size"]
        positives = demo_ws.count(f"({cell['rule']}) and {TARGET}")["size"]
        noisy += cell["users"] != exact
        noisy += round(cell["users"] * cell["metric"]) != positives
    assert noisy  # the numbers are released, not exact
    # a baseline in other words is the same set of users: the same numbers
    plain = demo_ws.discovery.niche(tags, target=TARGET, baseline="age < 50", caller=VIEWER)
    worded = demo_ws.discovery.niche(
        tags, target=TARGET, baseline="not (not (age < 50))", caller=VIEWER
    )
    assert plain.universe_size == worded.universe_size != first.universe_size
    assert [(c["users"], c["metric"]) for c in plain.cells] == [
        (c["users"], c["metric"]) for c in worded.cells
    ]


def test_a_viewer_cannot_difference_means_to_learn_ones_spend(demo_ws: Workspace) -> None:
    """Means of a number over two cubes whose universes differ by one person would give that
    person's value (P·m(all) − (P−1)·m(all but one)): a viewer gets no mean cube at all."""
    profile = _profile(demo_ws)
    person = int(profile["spend_365d"].idxmax())
    second = pd.Timestamp(profile["registered_at"][person]).floor("s")
    after = second + pd.Timedelta(seconds=1)
    everyone_but = (
        f'not (registered_at >= "{second:%Y-%m-%d %H:%M:%S}" '
        f'and registered_at < "{after:%Y-%m-%d %H:%M:%S}")'
    )
    tags = ["gender", "activity_level"]
    for baseline in (None, everyone_but):
        with pytest.raises(AccessError, match="exact numbers") as refused:
            demo_ws.discovery.niche(tags, metric="spend_365d", baseline=baseline, caller=VIEWER)
        assert refused.value.where == "--metric"
    exact = demo_ws.discovery.niche(tags, metric="spend_365d")  # an analyst's: exact
    assert exact.overall == pytest.approx(profile["spend_365d"].fillna(0).mean(), rel=1e-9) or (
        exact.overall == pytest.approx(profile["spend_365d"].mean(), rel=1e-9)
    )


def test_a_viewers_subgroups_have_at_least_min_count_users(demo_ws: Workspace) -> None:
    target = "cart_adds_90d >= 5"
    options: dict[str, Any] = {"depth": 2, "min_support": 2, "quality": "lift"}
    exact = demo_ws.discovery.subgroups(target, **options)
    assert any(r["size"] < 10 for r in exact["rows"])  # unprotected, tiny subgroups win
    result = demo_ws.discovery.subgroups(target, caller=VIEWER, **options)
    assert result["min_support"] == 10 and result["privacy"] is not None
    assert result["rows"]
    noisy = False
    for row in result["rows"]:
        size = demo_ws.count(row["rule"])["size"]
        assert size >= 10, row["rule"]
        assert row["size"] is None or row["size"] >= 10
        assert row["positives"] is None or row["positives"] >= 10
        noisy |= row["size"] != size
        if row.get("suppressed"):
            numbers = ("coverage", "precision", "recall", "lift", "p_value", "p_adjusted")
            assert all(row[k] is None for k in numbers) and not row["significant"]
    assert noisy
    share = demo_ws.discovery.subgroups(
        target, caller=VIEWER, depth=2, min_support=0.001, quality="lift"
    )
    assert share["min_support"] == pytest.approx(10 / 3000)


def test_a_viewers_feature_ranking_has_no_point_biserial(demo_ws: Workspace) -> None:
    tags = ["spend_365d", "age", "city"]
    exact = {
        r["tag"]: r for r in demo_ws.discovery.rank(TARGET, tags=tags, include_circular=True).rows
    }
    assert exact["age"]["point_biserial"] is not None
    ranking = demo_ws.discovery.rank(TARGET, tags=tags, include_circular=True, caller=VIEWER)
    assert ranking.privacy is not None and len(ranking.rows) == 3
    assert all(r["point_biserial"] is None for r in ranking.rows)


def test_a_target_with_no_members_or_all_members_is_refused(demo_ws: Workspace) -> None:
    for rule, what in (("age > 500", "no members"), ("age >= 0 or age is null", "every user")):
        with pytest.raises(InputError, match=what) as refused:
            demo_ws.discovery.niche(["city", "gender"], target=rule)
        assert refused.value.where == "--target"
