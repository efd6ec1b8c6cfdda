"""Association rules over event baskets (``events:<event>``), checked against pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from portrait.analysis.association import frequent_itemsets
from portrait.errors import InputError
from portrait.workspace import Workspace


def test_event_baskets_match_pandas(demo_ws: Workspace) -> None:
    warehouse = demo_ws.warehouse
    assert warehouse.path is not None
    events = pd.concat(
        pd.read_parquet(p, columns=["user_id", "event", "item_category"])
        for p in warehouse.tables["events"].paths(warehouse.path)
    )
    views = events[(events.event == "view") & events.item_category.notna()]
    baskets = [sorted(set(g)) for _, g in views.groupby("user_id").item_category]
    reference = frequent_itemsets(baskets, 0.02, max_size=3)
    rules = demo_ws.association_rules(
        basket="events:view", item="item_category", min_support=0.02, min_confidence=0.0, max_size=3
    )
    assert rules
    for rule in rules:
        both = tuple(sorted(rule["antecedent"] + rule["consequent"]))
        assert rule["support"] == pytest.approx(reference.support(both), rel=1e-12)
        assert rule["baskets"] == reference.counts[both]
    pairs = {tuple(sorted(r["antecedent"] + r["consequent"])) for r in rules}
    assert pairs == {k for k in reference.counts if len(k) > 1}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"basket": "events:view"}, "name the event property"),
        ({"basket": "events:vieww", "item": "item_category"}, "did you mean 'view'"),
        ({"basket": "events:view", "item": "nope"}, "events have no column 'nope'"),
        ({"basket": "clicks"}, "unknown basket source 'clicks'"),
        ({"basket": "orders", "item": "itemz"}, "did you mean 'items'"),
    ],
)
def test_bad_baskets(demo_ws: Workspace, options: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as exc:
        demo_ws.association_rules(**options)  # type: ignore[arg-type]
    assert message in str(exc.value)


def test_frequent_itemsets_are_the_rules_ground(demo_ws: Workspace) -> None:
    """``ws.frequent_itemsets`` lists what the rules are drawn from: every rule's A∪B is an
    itemset with the rule's support and baskets; the CLI prints items as JSON arrays."""
    import json

    from typer.testing import CliRunner

    from portrait.cli import app

    itemsets = demo_ws.frequent_itemsets(min_support=0.01)
    by_items = {tuple(r["items"]): r for r in itemsets}
    assert len(by_items) == len(itemsets)
    assert [r["baskets"] for r in itemsets] == sorted(
        (r["baskets"] for r in itemsets), reverse=True
    )
    rules = demo_ws.association_rules(min_support=0.01, min_confidence=0.0)
    for rule in rules:
        ground = by_items[tuple(sorted(rule["antecedent"] + rule["consequent"]))]
        assert ground["support"] == pytest.approx(rule["support"], rel=1e-12)
        assert ground["baskets"] == rule["baskets"]
    assert all(r["size"] == len(r["items"]) and r["items"] == sorted(r["items"]) for r in itemsets)
    result = CliRunner().invoke(
        app,
        [
            "rules",
            "itemsets",
            "--min-size",
            "2",
            "--top",
            "0",
            "-w",
            str(demo_ws.root),
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown == [r for r in itemsets if r["size"] >= 2]
    assert all(isinstance(r["items"], list) for r in shown)
    table = CliRunner().invoke(
        app, ["rules", "itemsets", "--min-size", "2", "-w", str(demo_ws.root)]
    )
    assert " + ".join(shown[0]["items"]) in table.stdout
