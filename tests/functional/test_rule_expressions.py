"""The rule language's expressions — ``size()``, ``is empty``, tag-vs-tag comparisons,
arithmetic, ``as_of ± Nd`` — select the same users on the bitmap path as in SQL, NULLs,
empty lists and division by zero included; the printer round-trips them."""

from __future__ import annotations

import datetime as dt
import json
import random

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import portrait
from portrait.audience import evaluate_rule
from portrait.audience.evaluate import Sources, count_rule
from portrait.compile.rules import RuleSQL, rule_query
from portrait.errors import RuleSyntaxError, RuleValidationError
from portrait.model.expressions import Arithmetic, AsOf, Duration, Expression, Size, TagRef
from portrait.model.rules import And, Comparison, Not, Or, Rule, TagCondition
from portrait.rules import parse_rule, print_rule
from portrait.workspace import Workspace

AS_OF = dt.date(2026, 6, 30)
USERS = 400
TAGS = """tags:
  - {name: interests, kind: attribute, type: list<string>}
  - {name: labels, kind: attribute, type: list<string>}
  - {name: spend, kind: attribute, type: float}
  - {name: limit_, kind: attribute, type: float}
  - {name: orders, kind: attribute, type: int}
  - {name: visits, kind: attribute, type: int}
  - {name: joined, kind: attribute, type: date}
  - {name: renewed, kind: attribute, type: date}
  - {name: seen, kind: attribute, type: timestamp}
  - {name: city, kind: attribute}
  - {name: home, kind: attribute}
  - {name: vip, kind: attribute, type: bool}
  - {name: member, kind: attribute, type: bool}
"""
NUMBERS = ["spend", "limit_", "orders", "visits"]
DATES = ["joined", "renewed"]
TEXTS = ["city", "home"]
BOOLS = ["vip", "member"]
LISTS = ["interests", "labels"]


def _user(i: int, rng: random.Random) -> dict[str, object]:
    def maybe(value: object, p: float = 0.15) -> object:
        return None if rng.random() < p else value

    def day(start: dt.date, span: int) -> str:
        return (start + dt.timedelta(days=rng.randrange(span))).isoformat()

    words = ["a", "b", "c", "d"]
    return {
        "user_id": f"u{i}",
        "interests": maybe(rng.sample(words, rng.randrange(0, 4)), 0.2),  # [] and NULL both
        "labels": maybe(rng.sample(words, rng.randrange(0, 3)), 0.3),
        "spend": maybe(rng.choice([0.0, 0.5, 12.25, 100.0, 333.0, float(rng.randrange(1000))])),
        "limit_": maybe(rng.choice([0.0, 100.0, 250.5, float(rng.randrange(500))])),
        "orders": maybe(rng.choice([0, 0, 1, 2, 3, 7])),  # zeros: division by zero
        "visits": maybe(rng.randrange(-2, 12)),
        "joined": maybe(day(dt.date(2025, 6, 1), 400)),
        "renewed": maybe(day(dt.date(2025, 9, 1), 300)),
        "seen": maybe(day(dt.date(2026, 1, 1), 200) + f" {rng.randrange(24):02d}:30:00"),
        "city": maybe(rng.choice(["北京", "上海", "广州"])),
        "home": maybe(rng.choice(["北京", "上海", "深圳"])),
        "vip": maybe(rng.random() < 0.4),
        "member": maybe(rng.random() < 0.5),
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("expressions") / "ws"
    portrait.init(root)
    config = root / "portrait.toml"
    config.write_text(
        config.read_text("utf-8").replace('# as_of = "auto"', f'as_of = "{AS_OF}"'), "utf-8"
    )
    ws = portrait.open(root)
    (root / "tags" / "basic.yaml").write_text(TAGS, encoding="utf-8")
    rng = random.Random(5)
    lines = [json.dumps(_user(i, rng), ensure_ascii=False) for i in range(USERS)]
    (root / "users.jsonl").write_text("\n".join(lines), encoding="utf-8")
    ws.ingest("users", root / "users.jsonl")
    ws.build()
    ws = portrait.open(root)
    profile = ws.selector().profile
    assert profile.as_of == AS_OF
    con = duckdb.connect()
    con.execute(f"CREATE TABLE profile AS SELECT * FROM read_parquet('{profile.profile_file}')")
    types = {n: m.type for n, m in profile.tags.items()}
    return ws, profile.index, con, types


def sql_uids(con: duckdb.DuckDBPyConnection, rule: Rule, types: dict[str, str]) -> list[int]:
    query = rule_query(rule, RuleSQL(types, as_of=AS_OF)).sql("duckdb")
    return [r[0] for r in con.execute(query).fetchall()]


small_numbers = st.sampled_from([0, 1, 2, 3, -1, 0.5, 100, 250.5, 333])
durations = st.builds(Duration, amount=st.integers(0, 400), unit=st.sampled_from(["d", "w"]))
as_ofs = st.builds(AsOf, offset=st.integers(-60, 10), unit=st.sampled_from(["d", "w"]))


def numeric(depth: int = 2) -> st.SearchStrategy[Expression]:
    leaf = st.one_of(
        st.builds(TagRef, tag=st.sampled_from(NUMBERS)),
        st.builds(Size, tag=st.sampled_from(LISTS)),
        small_numbers,
    )
    if depth == 0:
        return leaf
    return st.one_of(
        leaf,
        st.builds(
            Arithmetic,
            op=st.sampled_from(["+", "-", "*", "/"]),
            left=numeric(depth - 1),
            right=numeric(depth - 1),
        ),
    )


def temporal() -> st.SearchStrategy[Expression]:
    tag = st.builds(TagRef, tag=st.sampled_from([*DATES, "seen"]))
    moved = st.builds(Arithmetic, op=st.sampled_from(["+", "-"]), left=tag, right=durations)
    return st.one_of(tag, moved, as_ofs)


def has_tag(expression: Expression) -> bool:
    if isinstance(expression, TagRef | Size):
        return True
    if isinstance(expression, Arithmetic):
        return has_tag(expression.left) or has_tag(expression.right)
    return False


@st.composite
def comparisons(draw: st.DrawFn) -> Rule:
    kind = draw(st.sampled_from(["number", "number", "date", "text", "between"]))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    if kind == "text":
        pool = TEXTS if draw(st.booleans()) else BOOLS
        left, right = (TagRef(tag=t) for t in draw(st.permutations(pool)))
        return Comparison(left=left, op=draw(st.sampled_from(["=", "!="])), right=right)
    if kind == "between":
        left = draw(numeric(1))
        bounds = [draw(numeric(1)), draw(numeric(1))]
        if not has_tag(left) and not any(has_tag(b) for b in bounds):
            left = TagRef(tag="spend")
        return Comparison(left=left, op="between", right=bounds)
    make = numeric if kind == "number" else temporal
    left, right = draw(make()), draw(make())
    if not has_tag(left) and not has_tag(right):
        left = TagRef(tag=NUMBERS[0] if kind == "number" else "seen")
    return Comparison(left=left, op=op, right=right)


@st.composite
def emptiness(draw: st.DrawFn) -> Rule:
    tag = draw(st.sampled_from(LISTS))
    op = draw(
        st.sampled_from(
            ["is null", "is not null", "is empty", "is not empty", "contains any", "contains all"]
        )
    )
    if op.startswith("contains"):
        values = draw(st.lists(st.sampled_from(["a", "b", "c", "z"]), min_size=1, max_size=2))
        return TagCondition(tag=tag, op=op, value=sorted(set(values)))
    return TagCondition(tag=tag, op=op)


@st.composite
def relative_dates(draw: st.DrawFn) -> Rule:
    tag = draw(st.sampled_from([*DATES, "seen"]))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "between", "in"]))
    if op == "between":
        low, high = sorted([draw(as_ofs), draw(as_ofs)], key=lambda a: a.days)
        return TagCondition(tag=tag, op=op, value=[low, high])
    if op == "in":
        return TagCondition(tag=tag, op=op, value=draw(st.lists(as_ofs, min_size=1, max_size=3)))
    return TagCondition(tag=tag, op=op, value=draw(as_ofs))


def rules() -> st.SearchStrategy[Rule]:
    return st.recursive(
        st.one_of(comparisons(), emptiness(), relative_dates()),
        lambda children: st.one_of(
            st.builds(And, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Or, items=st.lists(children, min_size=2, max_size=3)),
            st.builds(Not, item=children),
        ),
        max_leaves=5,
    )


def test_bitmaps_agree_with_sql_on_random_expression_rules(setup) -> None:  # type: ignore[no-untyped-def]
    _, index, con, types = setup
    sources = Sources(as_of=AS_OF)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rules())
    def check(rule: Rule) -> None:
        text = print_rule(rule)
        again = parse_rule(text)
        # the printer round-trips (a generated ``compare`` of a tag with a value comes back
        # as the equivalent tag condition)
        assert parse_rule(print_rule(again)) == again, text
        members = list(evaluate_rule(rule, index, sources))
        assert members == sql_uids(con, rule, types), text
        assert count_rule(rule, index, sources) == len(members), text
        assert list(evaluate_rule(again, index, sources)) == members, text

    check()


CASES = {
    # the user's words → what it selects, by hand over the generated data
    "size(interests) >= 2": lambda u: len(u["interests"] or []) >= 2,
    "size(interests) = 0": lambda u: not u["interests"],
    "interests is empty": lambda u: u["interests"] == [],
    "interests is null": lambda u: u["interests"] is None,
    "interests is not empty": lambda u: bool(u["interests"]),
    # three-valued: an empty list is no value to test, so `not contains` leaves it out
    'not interests contains any ("a")': lambda u: (
        bool(u["interests"]) and "a" not in u["interests"]
    ),
    "spend / orders > 100": lambda u: (
        u["spend"] is not None and bool(u["orders"]) and u["spend"] / u["orders"] > 100
    ),
    "spend > limit_": lambda u: (
        u["spend"] is not None and u["limit_"] is not None and u["spend"] > u["limit_"]
    ),
    "renewed >= joined + 30d": lambda u: (
        u["renewed"] is not None
        and u["joined"] is not None
        and dt.date.fromisoformat(u["renewed"])
        >= dt.date.fromisoformat(u["joined"]) + dt.timedelta(days=30)
    ),
    "joined >= as_of - 90d": lambda u: (
        u["joined"] is not None and dt.date.fromisoformat(u["joined"]) >= AS_OF - dt.timedelta(90)
    ),
    "seen < as_of - 2w": lambda u: (
        u["seen"] is not None
        and dt.datetime.fromisoformat(u["seen"])
        < dt.datetime.combine(AS_OF - dt.timedelta(14), dt.time())
    ),
    "city = home": lambda u: u["city"] is not None and u["city"] == u["home"],
    "city != home": lambda u: None not in (u["city"], u["home"]) and u["city"] != u["home"],
}


@pytest.mark.parametrize("text", list(CASES))
def test_expressions_select_what_they_say(setup, text: str) -> None:  # type: ignore[no-untyped-def]
    ws: Workspace = setup[0]
    rng = random.Random(5)
    users = [_user(i, rng) for i in range(USERS)]
    expected = sorted(u["user_id"] for u in users if CASES[text](u))
    assert sorted(ws.select(text).ids()) == expected
    assert sorted(ws.select_sql(text).ids()) == expected
    assert print_rule(parse_rule(text)) == text  # printed back as written


def test_as_of_follows_the_data(setup) -> None:  # type: ignore[no-untyped-def]
    """A rule with as_of means a different date on another as-of date (a saved dynamic
    segment re-evaluated after a build follows the data)."""
    index = setup[1]
    rule = parse_rule("joined >= as_of - 90d")
    now = evaluate_rule(rule, index, Sources(as_of=AS_OF))
    later = evaluate_rule(rule, index, Sources(as_of=AS_OF + dt.timedelta(days=200)))
    assert len(later) < len(now)
    fixed = parse_rule(f'joined >= "{AS_OF - dt.timedelta(days=90)}"')
    assert evaluate_rule(fixed, index, Sources(as_of=AS_OF)) == now


BAD = {
    "size(spend) > 3": ("size() counts the values of a multi-valued tag", "column 1"),
    "joined > city": ("cannot be compared with text", "column 1"),
    "city + 1 > 2": ("arithmetic (+) works on numbers", "column 1"),
    "orders > 1 and home * 2 > 3": ("'home' (string) is text", "column 16"),
    "spend > as_of": ("as_of is a date, and 'spend' is float", "column 1"),
    "interests > 2": ("holds several values", "column 1"),
    "spend is empty": ("'is empty' is for multi-valued tags", "column 1"),
    "orders >= as_of - 30d": ("as_of is a date, and 'orders' is int", "column 1"),
    "joined - renewed > 3": ("dates cannot be subtracted", "column 1"),
    "sped / orders > 1": ("unknown tag 'sped'", "column 1"),
}


@pytest.mark.parametrize("text", list(BAD))
def test_type_errors_point_at_the_condition(setup, text: str) -> None:  # type: ignore[no-untyped-def]
    ws: Workspace = setup[0]
    message, where = BAD[text]
    with pytest.raises(RuleValidationError) as caught:
        ws.count(text)
    error = caught.value
    assert message in error.message
    assert where in (error.where or "")
    assert "^" in error.message  # the caret under the condition
    assert error.hint


def test_out_of_range_offsets_are_syntax_errors() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("joined >= as_of - 9999999d")
    assert caught.value.column == 19
    assert "at most 36,525 days" in caught.value.message
    assert caught.value.hint
    with pytest.raises(RuleSyntaxError, match="names no tag"):
        parse_rule("as_of > 3")
