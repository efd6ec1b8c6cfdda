"""Rule evaluation on bitmaps agrees with SQL over the profile, NULLs and lists included."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portrait.audience import UnsupportedLeafError, evaluate_rule
from portrait.audience.evaluate import count_rule
from portrait.compile.rules import RuleSQL, rule_query
from portrait.index import RangeIndex, ValueIndex
from portrait.model.rules import And, Not, Or, Rule, TagCondition
from portrait.rules import parse_rule, print_rule
from portrait.workspace import Workspace

# Tags of the demo used by the generated rules (name → value type).
CATEGORICAL = [
    "gender",
    "city",
    "age_band",
    "education",
    "activity_level",
    "second_hand_intent",
    "value_tier",
    "car_price_band",
]
LISTS = ["preferred_car_brands", "visit_daypart", "active_lines_360d", "preferred_items"]
NUMERIC = [
    "age",
    "work_years",
    "searches_7d",
    "days_since_active",
    "car_price_avg_180d",
    "spend_365d",
]


@pytest.fixture(scope="module")
def setup(demo_template):  # type: ignore[no-untyped-def]
    import portrait

    ws = portrait.open(demo_template)
    index = ws.index()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE profile AS SELECT * FROM read_parquet('{ws.built.profile_file}')")
    types = {n: m["type"] for n, m in ws.built.tags.items()}
    values: dict[str, list[object]] = {}
    for name in CATEGORICAL + LISTS:
        tag_index = index.tag(name)
        assert isinstance(tag_index, ValueIndex)
        values[name] = [*tag_index.values, "no-such-value"]
    for name in NUMERIC:
        tag_index = index.tag(name)
        assert isinstance(tag_index, RangeIndex)
        sample = tag_index.sorted_values[:: max(1, len(tag_index.sorted_values) // 20)]
        values[name] = sorted({float(v) if types[name] == "float" else int(v) for v in sample})
    return ws, index, con, types, values


def sql_uids(con: duckdb.DuckDBPyConnection, rule: Rule, types: dict[str, str]) -> list[int]:
    return [r[0] for r in con.execute(rule_query(rule, RuleSQL(types)).sql("duckdb")).fetchall()]


@st.composite
def conditions(draw: st.DrawFn, values: dict[str, list[object]]) -> TagCondition:
    group = draw(st.sampled_from(["cat", "list", "num"]))
    if group == "cat":
        tag = draw(st.sampled_from(CATEGORICAL))
        op = draw(st.sampled_from(["=", "!=", "in", "not in", "is null", "is not null"]))
    elif group == "list":
        tag = draw(st.sampled_from(LISTS))
        op = draw(st.sampled_from(["contains any", "contains all", "is null", "is not null"]))
    else:
        tag = draw(st.sampled_from(NUMERIC))
        op = draw(
            st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "between", "in", "not in", "is null"])
        )
    pool = values[tag]
    if op in ("is null", "is not null"):
        return TagCondition(tag=tag, op=op)
    if op in ("in", "not in", "contains any", "contains all"):
        chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
        return TagCondition(tag=tag, op=op, value=chosen)
    if op == "between":
        a, b = sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)))
        return TagCondition(tag=tag, op=op, value=[a, b])
    return TagCondition(tag=tag, op=op, value=draw(st.sampled_from(pool)))


def rules(values: dict[str, list[object]]) -> st.SearchStrategy[Rule]:
    return st.recursive(
        conditions(values),
        lambda children: st.one_of(
            st.builds(And, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Or, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Not, item=children),
        ),
        max_leaves=6,
    )


def test_bitmaps_agree_with_sql_on_random_rules(setup) -> None:  # type: ignore[no-untyped-def]
    _, index, con, types, values = setup

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rules(values))
    def check(rule: Rule) -> None:
        members = evaluate_rule(rule, index)
        assert list(members) == sql_uids(con, rule, types), print_rule(rule)
        assert count_rule(rule, index) == len(members), print_rule(rule)

    check()


def test_three_valued_logic(setup) -> None:  # type: ignore[no-untyped-def]
    _, index, con, types, _ = setup
    everyone = index.n_users
    has_intent = len(evaluate_rule(parse_rule("second_hand_intent is not null"), index))
    high = parse_rule('second_hand_intent = "高"')
    not_high = parse_rule('not second_hand_intent = "高"')
    assert 0 < has_intent < everyone
    # "not" of a condition on a missing value stays unknown: neither side selects those users
    assert len(evaluate_rule(high, index)) + len(evaluate_rule(not_high, index)) == has_intent
    either = parse_rule('second_hand_intent = "高" or not second_hand_intent = "高"')
    assert len(evaluate_rule(either, index)) == has_intent
    assert list(evaluate_rule(either, index)) == sql_uids(con, either, types)


def test_unsupported_leaves_are_named(setup) -> None:  # type: ignore[no-untyped-def]
    _, index, _, _, _ = setup
    with pytest.raises(UnsupportedLeafError, match="segment"):
        evaluate_rule(parse_rule('city = "北京" and segment("x")'), index)


def test_timestamps_and_booleans(setup) -> None:  # type: ignore[no-untyped-def]
    _, index, con, types, _ = setup
    for text in (
        'last_active_at >= "2026-10-25"',
        'last_active_at between "2026-10-01" and "2026-10-15T12:00:00"',
        'registered_at < "2022-01-01" and not last_active_at is null',
    ):
        rule = parse_rule(text)
        assert list(evaluate_rule(rule, index)) == sql_uids(con, rule, types), text


def test_select_and_count_through_the_facade(demo_ws: Workspace) -> None:
    rule = 'city in ("北京", "上海") and age >= 25'
    audience = demo_ws.select(rule)
    profile = demo_ws.profile(["city", "age"]).to_pylist()
    expected = [
        r["user_id"] for r in profile if r["city"] in ("北京", "上海") and (r["age"] or 0) >= 25
    ]
    assert audience.ids() == expected
    assert audience.to_arrow(["city"]).column("city").to_pylist()[:1] in (["北京"], ["上海"])
    women = demo_ws.select('gender = "女"')
    assert len(audience & women) + len(audience - women) == len(audience)
    assert len(audience | women) == len(audience) + len(women) - len(audience & women)
    result = demo_ws.count(rule)
    assert result["size"] == len(expected)
    assert result["share"] == len(expected) / len(profile)
    assert result["rule"] == rule


def test_count_command(demo_ws: Workspace) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "portrait")
    ws = str(demo_ws.root)
    out = subprocess.run(
        [exe, "count", 'gender = "女" and not city = "北京"', "-w", ws, "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["size"] == len(demo_ws.select('gender = "女" and city != "北京"'))
    table = subprocess.run(
        [exe, "count", 'gender = "女"', "-w", ws], capture_output=True, text=True, check=True
    )
    assert "users (" in table.stdout and "ms" in table.stdout
    for bad, needle in (
        ("gender = ", "line 1, column 8"),
        ('gendr = "女"', "did you mean 'gender'"),
        ("city > 3", "city' is string"),
        ('city = "北经"', "did you mean '北京'"),
        ('segment("x")', "no segment named 'x'"),
        ('events("serch", last="7d") > 1', "did you mean 'search'"),
    ):
        res = subprocess.run(
            [exe, "count", bad, "-w", ws], capture_output=True, text=True, check=False
        )
        assert res.returncode == 2, (bad, res.stderr)
        assert needle in res.stderr and "Traceback" not in res.stderr, (bad, res.stderr)


def test_uncached_counts_skip_the_last_difference(demo_ws: Workspace) -> None:
    """``ws.count(rule, cache=False)`` counts ``A and not X`` as |A| − |A ∩ X| without
    building the members: the same size as the members' count, segments included."""
    demo_ws.segments.create("quiet", "days_since_active > 90 or days_since_active is null")
    for rule in (
        'gender = "女" and age between 25 and 40 and not segment("quiet")',
        'not segment("quiet") and not gender = "女" and age > 30',
        'gender = "女" and not city = "北京"',
    ):
        fresh = demo_ws.count(rule, cache=False)["size"]
        assert fresh == len(demo_ws.select(rule, cache=False)) == demo_ws.count(rule)["size"]
        assert fresh > 0
