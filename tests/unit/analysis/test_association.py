"""Frequent itemsets and rules agree with mlxtend on the same baskets."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
from mlxtend.frequent_patterns import apriori
from mlxtend.frequent_patterns import association_rules as mlx_rules
from mlxtend.preprocessing import TransactionEncoder

from portrait.analysis.association import association_rules, frequent_itemsets
from portrait.errors import InputError


def _baskets(seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    items = [f"i{k}" for k in range(12)]
    out = []
    for _ in range(400):
        basket = set(rng.sample(items, rng.randint(1, 4)))
        if "i1" in basket and rng.random() < 0.6:
            basket.add("i2")  # a planted rule i1 → i2
        out.append(sorted(basket))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_itemsets_and_rules_match_mlxtend(seed: int) -> None:
    baskets = _baskets(seed)
    encoder = TransactionEncoder()
    frame = pd.DataFrame(encoder.fit(baskets).transform(baskets), columns=encoder.columns_)
    ref_sets = apriori(frame, min_support=0.05, use_colnames=True, max_len=3)
    mine = frequent_itemsets(baskets, 0.05, max_size=3)
    ref = {
        tuple(sorted(s)): sup for s, sup in zip(ref_sets.itemsets, ref_sets.support, strict=True)
    }
    assert set(ref) == set(mine.counts)
    for items, support in ref.items():
        assert abs(mine.support(items) - support) < 1e-9
    ref_rules = mlx_rules(ref_sets, metric="confidence", min_threshold=0.2)
    expected = {
        (tuple(sorted(a)), tuple(sorted(c))): row
        for a, c, row in zip(
            ref_rules.antecedents, ref_rules.consequents, ref_rules.itertuples(), strict=True
        )
    }
    got = {
        (tuple(r["antecedent"]), tuple(r["consequent"])): r for r in association_rules(mine, 0.2)
    }
    assert set(expected) == set(got)
    for key, row in expected.items():
        r = got[key]
        for name in ("support", "confidence", "lift", "leverage"):
            assert abs(r[name] - getattr(row, name)) < 1e-9, name
        if math.isinf(row.conviction):
            assert math.isinf(r["conviction"])
        else:
            assert abs(r["conviction"] - row.conviction) < 1e-9


def test_planted_rule_and_bad_thresholds() -> None:
    rules = association_rules(frequent_itemsets(_baskets(7), 0.05), 0.5)
    assert any(r["antecedent"] == ["i1"] and r["consequent"] == ["i2"] for r in rules)
    with pytest.raises(InputError, match="min-support"):
        frequent_itemsets([["a"]], 0)
    with pytest.raises(InputError, match="min-confidence"):
        association_rules(frequent_itemsets([["a", "b"]], 0.5), 1.5)
    empty = frequent_itemsets([], 0.1)
    assert empty.baskets == 0 and association_rules(empty) == []
