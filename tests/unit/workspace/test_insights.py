"""``ws.insights``' helpers for the console's analysis pages: a report row narrowed to a rule
(its count is the row's), recommendations for an item, RFM segments as rules, the business
lines' audiences, distinctive features over chosen tags."""

from __future__ import annotations

import pytest

from portrait.errors import InputError, NotFoundError
from portrait.model.access import Caller
from portrait.workspace import Workspace

TAGS = ["city", "age", "registered_at", "preferred_items", "spend_365d", "gender"]


@pytest.mark.parametrize("target", ["young", 'city = "北京" and age >= 30'])
def test_every_row_narrows_to_a_rule_counting_the_rows_members(
    demo_ws: Workspace, target: str
) -> None:
    demo_ws.segments.create("young", "age < 30")
    report = demo_ws.insights.insight(target, tags=TAGS)
    pairs = [(r["tag"], r["value"]) for r in report.rows]
    rules = demo_ws.insights.narrowed(target, pairs)
    assert any(r["missing"] for r in report.rows)
    for row, rule in zip(report.rows, rules, strict=True):
        assert demo_ws.count(rule)["size"] == row["target"], (row["tag"], row["value"], rule)
        assert demo_ws.insights.narrow(target, row["tag"], row["value"]) == rule
    if target == "young":
        assert rules[pairs.index(("city", "北京"))] == 'segment("young") and city = "北京"'


def test_a_row_that_is_not_in_the_report_is_refused(demo_ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="agee"):
        demo_ws.insights.narrow("age < 30", "agee", "1")
    with pytest.raises(InputError, match="not one of the rows") as raised:
        demo_ws.insights.narrow("age < 30", "age", "(1, 2]")
    assert raised.value.where == "value"
    with pytest.raises(InputError, match="unknown tag"):
        demo_ws.insights.narrowed("agee < 30", [("city", "北京")])


def test_recommendations_are_the_rules_from_the_item_strongest_first(demo_ws: Workspace) -> None:
    rules = demo_ws.insights.association_rules()
    item = rules[0]["antecedent"][0]
    found = demo_ws.insights.recommendations(item)
    assert found == sorted(
        [r for r in rules if item in r["antecedent"]],
        key=lambda r: (-r["lift"], -r["confidence"], -r["support"]),
    )
    with pytest.raises(NotFoundError, match="no frequent item") as raised:
        demo_ws.insights.recommendations(item + "x")
    assert raised.value.where == "item"
    with pytest.raises(InputError, match="name an item"):
        demo_ws.insights.recommendations(" ")


def test_each_rfm_segment_is_a_rule_selecting_its_users(demo_ws: Workspace) -> None:
    rules = demo_ws.insights.rfm_rules()
    report = demo_ws.insights.rfm_report()
    assert len(rules) == len(report) == 8
    for row in report:
        assert demo_ws.count(rules[row["segment"]])["size"] == row["users"]


def test_the_cross_matrix_by_default_compares_the_line_audiences(demo_ws: Workspace) -> None:
    lines = demo_ws.insights.line_audiences()
    rows = demo_ws.insights.cross()
    assert {r["a"] for r in rows} == set(lines)
    a, b = rows[0]["a"], rows[0]["b"]
    both = demo_ws.insights.cross_insight(lines[a], lines[b])
    assert both.target_size == rows[0]["both"]


def test_distinctive_features_can_be_sought_among_chosen_tags(demo_ws: Workspace) -> None:
    found = demo_ws.insights.distinctive("age < 30", tags=["city", "age", "work_years_band"])
    assert found
    assert {r["tag"] for r in found} <= {"city", "work_years_band"}  # not its own tag, age


@pytest.mark.parametrize("target", ['city = "北京" and age < 30', "young"])
def test_distinctive_from_a_report_already_made_is_the_same(
    demo_ws: Workspace, target: str
) -> None:
    demo_ws.segments.create("young", "age < 30")
    report = demo_ws.insights.insight(target)
    found = demo_ws.insights.distinctive(target, report=report)
    assert found and found == demo_ws.insights.distinctive(target)
    assert demo_ws.insights.distinctive(target, report=report, top=3) == (
        demo_ws.insights.distinctive(target, top=3)
    )


def test_baskets_are_mined_once_per_data_version_and_options(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portrait.analysis import baskets

    reads = []
    real = baskets.read_baskets

    def counted(*args: object, **kwargs: object) -> object:
        reads.append(args[1])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(baskets, "read_baskets", counted)
    rules = demo_ws.insights.association_rules(min_support=0.01)
    itemsets = demo_ws.insights.frequent_itemsets(min_support=0.01)
    assert demo_ws.insights.association_rules(min_support=0.01) == rules
    assert len(reads) == 1 and rules and itemsets
    viewer = Caller("a-viewer", "viewer")  # each caller still gets its own release
    assert demo_ws.insights.association_rules(min_support=0.01, caller=viewer) != rules
    assert len(reads) == 1
    demo_ws.insights.association_rules(min_support=0.02)
    assert len(reads) == 2  # other options: mined again
