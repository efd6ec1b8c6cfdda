"""``ws.audiences.builder``: the counts of a rule tree and of each node are the facade's
counts of the same rules (three-valued logic included: a NOT over a tag with missing values),
problems stay with their node, text and tree round-trip, and the pickers respect personal data."""

from __future__ import annotations

from typing import Any

import pytest

import portrait
from portrait.errors import AccessError, InputError
from portrait.model.rules import RuleDocument
from portrait.rules import parse_rule
from portrait.workspace import Workspace
from portrait.workspace.builder import nodes

RULES = [
    'city in ("北京", "上海") and (age >= 30 or not events("view", last="30d") > 3)',
    'not (gender = "女" and age < 25) or segment("young")',
    "not age between 20 and 40 and size(preferred_car_brands) >= 1",
    'registered_at >= as_of - 90d or (city = "广州" and not gender = "男")',
]


@pytest.fixture
def ws(demo_ws: Workspace) -> Workspace:
    demo_ws.segments.create("young", "age < 30")
    return demo_ws


def _document(text: str) -> dict[str, Any]:
    return RuleDocument(rule=parse_rule(text)).model_dump(mode="json")


@pytest.mark.parametrize("text", RULES)
def test_every_node_counts_what_the_facade_counts_for_it(ws: Workspace, text: str) -> None:
    answer = ws.audiences.builder.count(_document(text))
    rule = parse_rule(text)
    listed = dict(nodes(rule))
    assert set(answer["parts"]) == set(listed)
    fresh = portrait.open(ws.root)  # another process's answers, with nothing cached
    for path, node in listed.items():
        assert answer["parts"][path]["size"] == fresh.count(node, cache=False)["size"], path
    assert answer["total"]["size"] == fresh.count(text)["size"]
    assert answer["text"] == text or parse_rule(answer["text"]) == rule


def test_paths_name_items_and_the_item_of_a_not() -> None:
    rule = parse_rule("a = 1 and not (b = 2 or c = 3)")
    assert [p for p, _ in nodes(rule)] == ["", "0", "1", "1.n", "1.n.0", "1.n.1"]


def test_a_problem_stays_with_its_node(ws: Workspace) -> None:
    document = _document('city = "北京" and age > 30')
    document["rule"]["items"][1]["tag"] = "agee"
    answer = ws.audiences.builder.count(document)
    assert answer["parts"]["0"]["size"] == ws.count('city = "北京"')["size"]
    assert "unknown tag 'agee'" in answer["parts"]["1"]["problem"]["message"]
    assert "problem" in answer["parts"][""] and answer["total"] == answer["parts"][""]


def test_a_malformed_tree_names_the_wrong_field(ws: Workspace) -> None:
    with pytest.raises(InputError) as refused:
        ws.audiences.builder.count({"version": 1, "rule": {"kind": "tag", "tag": "age", "op": "~"}})
    assert "rule" in (refused.value.where or "")


def test_text_to_tree_and_back(ws: Workspace) -> None:
    text = 'gender = "女" and not (age < 25 or events("view", last="7d") >= 2)'
    tree = ws.audiences.builder.tree(text)
    assert ws.audiences.builder.text(tree) == text


def test_narrow_and_retarget_write_rules(ws: Workspace) -> None:
    builder = ws.audiences.builder
    assert builder.narrow('city = "北京" or age > 30', "gender", "女") == (
        '(city = "北京" or age > 30) and gender = "女"'
    )
    assert builder.narrow("", "preferred_car_brands", "宝马") == (
        'preferred_car_brands contains any ("宝马")'
    )
    assert builder.retarget("spring", "opened", "clicked") == (
        'campaign("spring", "opened") and not campaign("spring", "clicked")'
    )
    with pytest.raises(InputError, match="unknown campaign outcome 'bought'"):
        builder.retarget("spring", "bought")


def test_an_analyst_is_offered_no_personal_data_and_may_not_narrow_by_it(ws: Workspace) -> None:
    analyst = portrait.open(ws.root, role="analyst")
    offered = {t["name"] for t in analyst.audiences.builder.vocabulary()["tags"]}
    assert "phone" not in offered and "city" in offered
    assert "phone" in {t["name"] for t in ws.audiences.builder.vocabulary()["tags"]}
    with pytest.raises(AccessError):
        analyst.audiences.builder.narrow("", "phone", "13800000000")


def test_a_viewer_gets_counts_under_disclosure_control(ws: Workspace) -> None:
    viewer = portrait.open(ws.root, role="viewer")
    tiny = next(r for r in (f"age = {a}" for a in range(18, 90)) if 0 < ws.count(r)["size"] < 10)
    answer = viewer.audiences.builder.count(_document(f'{tiny} and city != "北京"'))
    assert answer["parts"]["0"]["size"] is None and answer["parts"]["0"]["suppressed"]
    assert answer["privacy"] is not None
