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
