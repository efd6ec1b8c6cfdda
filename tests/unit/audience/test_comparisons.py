"""Comparisons of expressions on the bitmap path give SQL's three-valued answer — (true,
unknown) — whichever way they are computed: a range query (a numeric tag or ``size()``
against a constant) or per-user arrays (tag against tag, arithmetic), checked against a plain
Python evaluation of every user, a slice of users at a time, from the value columns the range
indexes keep; and the values rebuilt for indexes written before those columns were kept stay
in a bounded LRU cache."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from portrait.audience import comparisons as comparisons_module
from portrait.audience.comparisons import comparison_truth
from portrait.errors import UnsupportedLeafError
from portrait.index import ProfileIndex, RangeIndex, ValueIndex, build_tag_index
from portrait.index import profile_index as profile_index_module
from portrait.index.profile_index import index_file
from portrait.model.expressions import Arithmetic, AsOf, Duration, Expression, Size, TagRef
from portrait.model.rules import Comparison, RuleDocument, TagCondition
from portrait.rules import parse_rule
from tests.old_indexes import without_column

AS_OF = dt.date(2026, 6, 30)
USERS = 240
TYPES = {
    "spend": "float",  # many distinct values: a binned range index
    "limit_": "float",
    "orders": "int",  # zeros: division by zero
    "visits": "int",
    "joined": "date",  # a few hundred distinct days: binned
    "renewed": "date",  # a month of days: exact
    "seen": "timestamp",
    "city": "string",
    "home": "string",
    "vip": "bool",
    "member": "bool",
    "items": "list<string>",
}
ARROW = {
    "float": pa.float64(),
    "int": pa.int64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "string": pa.string(),
    "bool": pa.bool_(),
    "list<string>": pa.list_(pa.string()),
}


def _users() -> list[dict[str, Any]]:
    rng = random.Random(11)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.15 else value

    users = []
    for _ in range(USERS):
        users.append(
            {
                "spend": maybe(
                    rng.choice([0.0, 0.5, 12.25, 100.0, 333.0])
                    if rng.random() < 0.4
                    else round(rng.uniform(0, 1000), 2)
                ),
                "limit_": maybe(rng.choice([0.0, 100.0, 250.5, 300.0])),
                "orders": maybe(rng.choice([0, 0, 1, 2, 3, 7])),
                "visits": maybe(rng.randrange(-2, 12)),
                "joined": maybe(dt.date(2025, 6, 1) + dt.timedelta(days=rng.randrange(400))),
                "renewed": maybe(dt.date(2025, 9, 1) + dt.timedelta(days=rng.randrange(30))),
                "seen": maybe(
                    dt.datetime(2025, 9, 1, rng.randrange(24), 30)
                    + dt.timedelta(days=rng.randrange(320))
                ),
                "city": maybe(rng.choice(["北京", "上海", "广州"])),
                "home": maybe(rng.choice(["北京", "上海", "深圳"])),
                "vip": maybe(rng.random() < 0.4),
                "member": maybe(rng.random() < 0.5),
                # NULL, [] and lists of distinct values
                "items": maybe(rng.sample(["a", "b", "c", "d"], rng.randrange(0, 4))),
            }
        )
    return users


USER_ROWS = _users()


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Index files of every tag, as a build writes them."""
    folder = tmp_path_factory.mktemp("comparisons")
    for name, value_type in TYPES.items():
        column = pa.chunked_array([pa.array([u[name] for u in USER_ROWS], ARROW[value_type])])
        build_tag_index(column, value_type).save(index_file(folder, name, value_type))
    return folder


@pytest.fixture(scope="module")
def old_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same index files as an older version wrote them: range indexes without the column
    of values (rebuilt from the bins when a comparison needs them)."""
    folder = tmp_path_factory.mktemp("comparisons-old")
    for name, value_type in TYPES.items():
        column = pa.chunked_array([pa.array([u[name] for u in USER_ROWS], ARROW[value_type])])
        built = build_tag_index(column, value_type)
        if isinstance(built, RangeIndex):
            built = without_column(built)
        built.save(index_file(folder, name, value_type))
    return folder


@pytest.fixture
def index(index_dir: Path) -> ProfileIndex:
    """A fresh profile index (nothing loaded)."""
    return ProfileIndex(index_dir, dict(TYPES), USERS)


@pytest.fixture
def old_index(old_index_dir: Path) -> ProfileIndex:
    """A fresh profile index over files without value columns (nothing loaded or kept)."""
    old = ProfileIndex(old_index_dir, dict(TYPES), USERS)
    assert old.range("spend").column is None
    return old


@pytest.fixture(params=["column", "rebuilt"])
def any_index(request: pytest.FixtureRequest, index_dir: Path, old_index_dir: Path) -> ProfileIndex:
    """A fresh profile index whose range indexes keep their value column, or do not."""
    folder = index_dir if request.param == "column" else old_index_dir
    return ProfileIndex(folder, dict(TYPES), USERS)


def test_the_data_has_both_index_kinds() -> None:
    """The fast path reads binned and exact range indexes; the data must give both."""

    def exact(name: str) -> bool:
        return RangeIndex.build(pa.array([u[name] for u in USER_ROWS], ARROW[TYPES[name]])).exact

    assert not exact("spend") and not exact("joined")
    assert exact("limit_") and exact("orders") and exact("renewed")
    lists = [u["items"] for u in USER_ROWS]
    assert None in lists and [] in lists and any(len(x or []) >= 2 for x in lists)


# -- the reference: SQL's three-valued logic, user by user --------------------------------


def _value(expression: Expression, user: dict[str, Any], as_of: dt.date | None) -> Any:
    """The expression's value for one user (None: NULL)."""
    if isinstance(expression, TagRef):
        value = user[expression.tag]
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(expression, Size):
        return float(len(user[expression.tag] or []))
    if isinstance(expression, AsOf):
        assert as_of is not None
        return as_of + dt.timedelta(days=expression.offset * (7 if expression.unit == "w" else 1))
    if isinstance(expression, Duration):
        return dt.timedelta(days=expression.amount * (7 if expression.unit == "w" else 1))
    if isinstance(expression, str):  # a date or timestamp literal
        if " " in expression or "T" in expression:
            return dt.datetime.fromisoformat(expression)
        return dt.date.fromisoformat(expression)
    if isinstance(expression, bool):
        return expression
    if isinstance(expression, int | float):
        return float(expression)
    assert isinstance(expression, Arithmetic)
    left = _value(expression.left, user, as_of)
    right = _value(expression.right, user, as_of)
    if left is None or right is None:
        return None
    if expression.op == "/":
        return None if right == 0 else left / right
    if expression.op == "*":
        return left * right
    return left + right if expression.op == "+" else left - right


def _moment(value: Any) -> Any:
    """A date next to a timestamp is its midnight."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value


def _compare(left: Any, op: str, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    if isinstance(left, dt.datetime) or isinstance(right, dt.datetime):
        left, right = _moment(left), _moment(right)
    answers: dict[str, bool] = {
        "=": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return answers[op]


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def reference(cond: Comparison, as_of: dt.date | None = AS_OF) -> tuple[list[int], list[int]]:
    """(true, unknown) user ids of ``cond``, by hand."""
    true, unknown = [], []
    for uid, user in enumerate(USER_ROWS):
        left = _value(cond.left, user, as_of)
        if isinstance(cond.right, list):
            low, high = (_value(bound, user, as_of) for bound in cond.right)
            answer = _and(_compare(left, ">=", low), _compare(left, "<=", high))
        else:
            answer = _compare(left, cond.op, _value(cond.right, user, as_of))
        if answer is None:
            unknown.append(uid)
        elif answer:
            true.append(uid)
    return true, unknown


# -- which path a comparison takes --------------------------------------------------------


class Reads:
    """Counts what a comparison asks for: per-user values of tags (``ProfileIndex.column``),
    values rebuilt from the bins (``RangeIndex.values`` on an index without its column), range
    queries, and range indexes of list sizes."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.rebuilt = 0
        self.ranges = 0
        self.sizes_index = 0


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen = Reads()
    column, values = ProfileIndex.column, RangeIndex.values
    ranges, sizes_index = RangeIndex.range, ValueIndex.sizes_index

    def counting_column(self: ProfileIndex, name: str) -> Any:
        seen.columns.append(name)
        return column(self, name)

    def counting_values(self: RangeIndex) -> Any:
        seen.rebuilt += self.column is None
        return values(self)

    def counting_range(self: RangeIndex, *args: Any, **kwargs: Any) -> Any:
        seen.ranges += 1
        return ranges(self, *args, **kwargs)

    def counting_sizes_index(self: ValueIndex) -> Any:
        seen.sizes_index += 1
        return sizes_index(self)

    monkeypatch.setattr(ProfileIndex, "column", counting_column)
    monkeypatch.setattr(RangeIndex, "values", counting_values)
    monkeypatch.setattr(RangeIndex, "range", counting_range)
    monkeypatch.setattr(ValueIndex, "sizes_index", counting_sizes_index)
    return seen


def C(left: Expression, op: str, right: Expression | list[Expression]) -> Comparison:
    return Comparison(left=left, op=op, right=right)  # type: ignore[arg-type]


def T(name: str) -> TagRef:
    return TagRef(tag=name)


# a numeric tag or size() against a constant: range queries, no per-user arrays
RANGED: dict[str, Comparison] = {
    "spend > 300": C(T("spend"), ">", 300),
    "300 < spend": C(300, "<", T("spend")),  # mirrored
    "spend = 333": C(T("spend"), "=", 333.0),  # equality inside a bin
    "spend <= 12.25": C(T("spend"), "<=", 12.25),
    "orders != 0": C(T("orders"), "!=", 0),
    "visits >= -1.5": C(T("visits"), ">=", -1.5),
    "limit_ < 250.5": C(T("limit_"), "<", 250.5),
    "joined >= as_of - 90d": C(T("joined"), ">=", AsOf(offset=-90)),
    "as_of - 2w > joined": C(AsOf(offset=-2, unit="w"), ">", T("joined")),
    "renewed = as_of - 300d": C(T("renewed"), "=", AsOf(offset=-300)),
    "joined >= as_of - 1w - 3d": parse_rule("joined >= as_of - 1w - 3d"),  # type: ignore[dict-item]
    "seen < as_of - 2w": C(T("seen"), "<", AsOf(offset=-2, unit="w")),  # midnight
    "seen >= as_of - 30d + 0d": C(
        T("seen"), ">=", Arithmetic(op="+", left=AsOf(offset=-30), right=Duration(amount=0))
    ),
    'seen >= "2026-03-01 12:00:00"': C(T("seen"), ">=", "2026-03-01 12:00:00"),
    'joined <= "2025-12-31"': C(T("joined"), "<=", "2025-12-31"),
    "spend > 1 / 0": C(T("spend"), ">", Arithmetic(op="/", left=1, right=0)),  # NULL
    "orders = 0 * 0": C(T("orders"), "=", Arithmetic(op="*", left=0, right=0)),
}
RANGED_SIZES: dict[str, Comparison] = {
    "size(items) >= 2": C(Size(tag="items"), ">=", 2),
    "size(items) = 0": C(Size(tag="items"), "=", 0),
    "size(items) != 1": C(Size(tag="items"), "!=", 1),
    "0 < size(items)": C(0, "<", Size(tag="items")),
    "size(items) < 1 / 0": C(Size(tag="items"), "<", Arithmetic(op="/", left=1, right=0)),
}
# anything else: per-user arrays of the numeric tags
ARRAYS = [
    "spend + 0 > 300",
    "spend / orders > 100",
    "spend / orders <= 100",
    "orders / (visits - visits) >= 0",  # never known
    "spend > limit_",
    "spend - limit_ * 2 <= visits",
    "visits between orders and 3",  # a NULL bound
    "spend between 1 / 0 and 300",  # a NULL constant bound
    "3 between orders and visits",
    "size(items) > orders",
    "renewed >= joined + 30d",
    "seen >= joined + 1d",  # a date next to a timestamp: midnight
    "seen < renewed",
    "joined + 0d >= as_of - 90d",
    "seen - 1w > as_of - 30d",
    "joined between as_of - 400d and renewed",
    'seen between joined and "2026-03-01 12:00:00"',
]
ARRAY_SIZES = ["size(items) + 0 >= 2", "size(items) between 1 and 2", "size(items) * 2 = 2"]
NULL_BOUNDS = {"spend > 1 / 0", "size(items) < 1 / 0"}  # unknown for everyone: no query
CATEGORICAL = ["city = home", "city != home", "vip = member", "vip != member"]


def _truth(cond: Comparison, index: ProfileIndex, as_of: dt.date | None = AS_OF) -> Any:
    true, unknown = comparison_truth(cond, index, as_of)
    return list(true), list(unknown)


@pytest.mark.parametrize("name", list(RANGED))
def test_range_queries_give_sqls_answer(name: str, any_index: ProfileIndex, reads: Reads) -> None:
    cond = RANGED[name]
    assert isinstance(cond, Comparison)
    assert _truth(cond, any_index) == reference(cond)
    assert reads.columns == [] and reads.rebuilt == 0  # no per-user values were read
    assert reads.ranges > 0 or name in NULL_BOUNDS


@pytest.mark.parametrize("name", list(RANGED_SIZES))
def test_sizes_are_range_queries(name: str, index: ProfileIndex, reads: Reads) -> None:
    cond = RANGED_SIZES[name]
    assert _truth(cond, index) == reference(cond)
    assert reads.sizes_index == 1 and reads.columns == []
    assert reads.ranges > 0 or name in NULL_BOUNDS


@pytest.mark.parametrize("text", ARRAYS)
def test_per_user_arrays_give_sqls_answer(text: str, any_index: ProfileIndex, reads: Reads) -> None:
    cond = parse_rule(text)
    assert isinstance(cond, Comparison)
    assert _truth(cond, any_index) == reference(cond)
    assert set(reads.columns) == {t.tag for t in _numeric_tags(cond)}  # per-user values
    assert reads.ranges == 0 and reads.sizes_index == 0
    kept = any_index.range(reads.columns[0]).column is not None
    assert reads.rebuilt == (0 if kept else len(set(reads.columns)))  # rebuilt once each


def _numeric_tags(cond: Comparison) -> list[TagRef]:
    found: list[TagRef] = []

    def walk(expression: Expression) -> None:
        if isinstance(expression, TagRef):
            found.append(expression)
        elif isinstance(expression, Arithmetic):
            walk(expression.left)
            walk(expression.right)

    for side in cond.sides:
        walk(side)
    return found


@pytest.mark.parametrize("text", ARRAY_SIZES)
def test_sizes_in_arithmetic_give_sqls_answer(text: str, index: ProfileIndex, reads: Reads) -> None:
    cond = parse_rule(text)
    assert isinstance(cond, Comparison)
    assert _truth(cond, index) == reference(cond)
    assert reads.sizes_index == 0 and reads.ranges == 0  # not through the range index of sizes
    assert reads.columns == []  # the list lengths kept in the value index


@pytest.mark.parametrize("text", CATEGORICAL)
def test_text_and_boolean_tags_compared_with_each_other(
    text: str, index: ProfileIndex, reads: Reads
) -> None:
    cond = parse_rule(text)
    assert isinstance(cond, Comparison)
    assert _truth(cond, index) == reference(cond)
    assert reads.columns == [] and reads.ranges == 0


@pytest.mark.parametrize("chunk", [1, 7, USERS - 1, USERS])
def test_slices_of_any_size_give_the_same_answer(
    chunk: int, any_index: ProfileIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Computed CHUNK users at a time: slices of one user, a last slice cut short, one slice."""
    monkeypatch.setattr(comparisons_module, "CHUNK", chunk)
    for text in [*ARRAYS, *ARRAY_SIZES]:
        cond = parse_rule(text)
        assert isinstance(cond, Comparison)
        assert _truth(cond, any_index) == reference(cond), text


@pytest.mark.parametrize(
    ("fast", "slow"),
    [
        ("spend > 300", "spend + 0 > 300"),
        ("spend > 300", "spend * 1 > 300"),
        ("joined >= as_of - 90d", "joined + 0d >= as_of - 90d"),
        ("seen < as_of - 2w", "seen - 0d < as_of - 2w"),
        ("size(items) >= 2", "size(items) + 0 >= 2"),
        ("orders != 0", "orders - 0 != 0"),
        ("spend > 1 / 0", "spend + 0 > 1 / 0"),
    ],
)
def test_both_paths_agree(fast: str, slow: str, index: ProfileIndex) -> None:
    fast_cond = RANGED.get(fast) or RANGED_SIZES[fast]
    slow_cond = parse_rule(slow)
    assert isinstance(slow_cond, Comparison)
    assert _truth(fast_cond, index) == _truth(slow_cond, index)


def test_hand_checked_answers(index: ProfileIndex) -> None:
    """A few users checked by eye, so the reference itself is right."""
    true, unknown = _truth(parse_rule("spend / orders > 100"), index)  # type: ignore[arg-type]
    for uid, user in enumerate(USER_ROWS):
        spend, orders = user["spend"], user["orders"]
        if spend is None or orders is None or orders == 0:
            assert uid in unknown and uid not in true  # NULL, or division by zero
        else:
            assert (uid in true) == (spend / orders > 100)
    # x between NULL and 3 is false when x > 3, unknown when x <= 3
    true, unknown = _truth(parse_rule("visits between orders and 3"), index)  # type: ignore[arg-type]
    nulls = [
        uid for uid, u in enumerate(USER_ROWS) if u["orders"] is None and u["visits"] is not None
    ]
    above = [uid for uid in nulls if USER_ROWS[uid]["visits"] > 3]
    below = [uid for uid in nulls if USER_ROWS[uid]["visits"] <= 3]
    assert above and below
    assert not set(above) & (set(true) | set(unknown))  # false
    assert set(below) <= set(unknown)
    # the NULL bound is a constant: everyone is false above 300, unknown below
    true, unknown = _truth(parse_rule("spend between 1 / 0 and 300"), index)  # type: ignore[arg-type]
    assert true == []
    assert unknown == [
        uid for uid, u in enumerate(USER_ROWS) if u["spend"] is None or u["spend"] <= 300
    ]


def test_a_date_is_its_midnight_next_to_a_timestamp(tmp_path: Path) -> None:
    """Hand-made users around one midnight (2026-01-10): a date equals the timestamp of its
    midnight exactly, to the microsecond."""
    joined = [dt.date(2026, 1, 10)] * 4 + [None]
    seen = [
        dt.datetime(2026, 1, 10),  # the midnight itself
        dt.datetime(2026, 1, 10, 0, 0, 0, 1),  # a microsecond after
        dt.datetime(2026, 1, 9, 23, 59, 59, 999_999),  # a microsecond before
        None,
        dt.datetime(2026, 1, 10),
    ]
    types = {"joined": "date", "seen": "timestamp"}
    for name, column in (("joined", joined), ("seen", seen)):
        array = pa.chunked_array([pa.array(column, ARROW[types[name]])])
        build_tag_index(array, types[name]).save(index_file(tmp_path, name, types[name]))
    index = ProfileIndex(tmp_path, types, 5)
    unknown = [3, 4]
    expected = {
        "seen = joined": [0],
        "seen > joined": [1],
        "seen < joined": [2],
        "seen >= joined": [0, 1],
        "joined != seen": [1, 2],
        "seen < joined + 1d": [0, 1, 2],
        "seen - 1d >= joined - 2d": [0, 1, 2],
    }
    for text, true in expected.items():
        assert _truth(parse_rule(text), index) == (true, unknown), text  # type: ignore[arg-type]
    as_of = dt.date(2026, 1, 10)
    # the as-of date against a timestamp: a range query from its midnight
    assert _truth(C(T("seen"), ">=", AsOf()), index, as_of) == ([0, 1, 4], [3])
    assert _truth(C(T("seen"), "<", AsOf(offset=1)), index, as_of) == ([0, 1, 2, 4], [3])
    assert _truth(C(T("seen"), "=", AsOf()), index, as_of) == ([0, 4], [3])


def test_the_as_of_date_given_is_the_one_used(index: ProfileIndex) -> None:
    for text in ("joined >= as_of - 1w - 3d", "joined + 0d >= as_of - 90d"):
        cond = parse_rule(text)
        assert isinstance(cond, Comparison)
        later = AS_OF + dt.timedelta(days=100)
        got = _truth(cond, index, later)
        assert got == reference(cond, later)
        assert got != _truth(cond, index, AS_OF)


@pytest.mark.parametrize("text", ["joined >= as_of - 1w - 3d", "joined + 0d >= as_of"])
def test_as_of_without_the_as_of_date_is_refused(text: str, index: ProfileIndex) -> None:
    cond = parse_rule(text)
    assert isinstance(cond, Comparison)
    with pytest.raises(UnsupportedLeafError, match="as-of date"):
        comparison_truth(cond, index, None)


def test_unknown_tags_and_list_tags_are_refused(index: ProfileIndex) -> None:
    with pytest.raises(UnsupportedLeafError, match="unknown tag 'nope'"):
        comparison_truth(C(T("nope"), ">", T("spend")), index, AS_OF)
    with pytest.raises(UnsupportedLeafError, match="use size"):
        comparison_truth(C(T("items"), ">", T("spend")), index, AS_OF)


@pytest.mark.parametrize(
    ("cond", "same"),
    [
        (C(T("city"), "=", "北京"), TagCondition(tag="city", op="=", value="北京")),
        (C(T("vip"), "!=", True), TagCondition(tag="vip", op="!=", value=True)),
        (C(300, "<", T("spend")), TagCondition(tag="spend", op=">", value=300)),
        (
            C(T("joined"), "between", [AsOf(offset=-90), AsOf()]),
            TagCondition(tag="joined", op="between", value=[AsOf(offset=-90), AsOf()]),
        ),
    ],
    ids=["text", "bool", "mirrored", "between"],
)
def test_a_compare_node_of_a_tag_and_values_is_the_tag_condition(
    cond: Comparison, same: TagCondition, index: ProfileIndex
) -> None:
    """Valid in the JSON form: evaluated (bitmap path) and compiled (SQL) as the tag
    condition it means."""
    from portrait.audience import evaluate_rule
    from portrait.audience.evaluate import Sources
    from portrait.compile.rules import RuleSQL, rule_condition

    from_json = RuleDocument.model_validate_json(RuleDocument(rule=cond).model_dump_json()).rule
    assert from_json == cond
    assert cond.as_condition() == same
    sources = Sources(as_of=AS_OF)
    assert list(evaluate_rule(from_json, index, sources)) == list(
        evaluate_rule(same, index, sources)
    )
    ctx = RuleSQL(tag_types=TYPES, as_of=AS_OF)
    assert rule_condition(from_json, ctx).sql() == rule_condition(same, ctx).sql()


def test_size_on_an_index_without_list_lengths_asks_for_a_rebuild(index: ProfileIndex) -> None:
    """A value index written before list lengths were kept: size() is refused, either way."""
    index.values("items").lengths = None
    for text in ("size(items) >= 2", "size(items) + 0 >= 2", "size(items) > orders"):
        cond = parse_rule(text)
        assert isinstance(cond, Comparison)
        with pytest.raises(UnsupportedLeafError, match="before list sizes were kept") as info:
            comparison_truth(cond, index, AS_OF)
        assert "portrait build" in (info.value.hint or ""), text


# -- value columns: kept in the index, or rebuilt and kept least recently used first out ------


def test_columns_kept_in_the_index_are_read_as_they_are(index: ProfileIndex, reads: Reads) -> None:
    """A range index with its column: column() is that memory-mapped column, nothing rebuilt,
    nothing cached."""
    for name in ("spend", "orders", "joined", "seen"):
        stored = index.range(name).column
        assert stored is not None
        assert index.column(name) is stored
        assert isinstance(stored, np.memmap) and not stored.flags.writeable
    assert reads.rebuilt == 0
    with pytest.raises(TypeError, match="value index"):
        index.column("city")


def test_columns_and_rebuilt_values_agree(index: ProfileIndex, old_index: ProfileIndex) -> None:
    for name in ("spend", "limit_", "orders", "visits", "joined", "renewed", "seen"):
        kept, rebuilt = index.column(name), old_index.column(name)
        assert rebuilt.dtype == np.float64, name
        assert kept.tolist() == rebuilt.tolist(), name  # 0 for the missing users in both
        missing = [uid for uid, u in enumerate(USER_ROWS) if u[name] is None]
        assert list(index.range(name).missing) == missing, name
        assert not kept[missing].any(), name


def test_rebuilt_values_are_kept_and_evicted_least_recently_used(
    old_index: ProfileIndex, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = USERS * 8  # float64 values per user
    monkeypatch.setattr(profile_index_module, "DENSE_CACHE_BYTES", 2 * one)  # two tags' worth
    spend = old_index.column("spend")
    orders = old_index.column("orders")
    assert spend.nbytes == orders.nbytes == one
    assert old_index.column("spend") is spend  # kept: not rebuilt
    assert reads.rebuilt == 2
    visits = old_index.column("visits")  # a third: the least recently used (orders) goes
    assert reads.rebuilt == 3
    assert old_index.column("spend") is spend
    assert old_index.column("visits") is visits
    assert reads.rebuilt == 3
    again = old_index.column("orders")  # rebuilt; now spend is the least recently used
    assert again is not orders and reads.rebuilt == 4
    assert (again == orders).all()
    old_index.column("visits")
    assert reads.rebuilt == 4
    old_index.column("spend")
    assert reads.rebuilt == 5


def test_one_rebuilt_array_larger_than_the_cache_is_still_kept(
    old_index: ProfileIndex, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_index_module, "DENSE_CACHE_BYTES", 1)
    spend = old_index.column("spend")
    assert old_index.column("spend") is spend
    assert reads.rebuilt == 1
    old_index.column("orders")  # replaces it
    assert old_index.column("spend") is not spend
    assert reads.rebuilt == 3


def test_comparisons_reuse_the_kept_arrays(old_index: ProfileIndex, reads: Reads) -> None:
    cond = parse_rule("spend > limit_")
    assert isinstance(cond, Comparison)
    first = _truth(cond, old_index)
    assert reads.rebuilt == 2
    assert _truth(cond, old_index) == first
    assert reads.rebuilt == 2  # the next rule rebuilds nothing again


def test_the_columns_are_not_changed_in_place(any_index: ProfileIndex) -> None:
    """Date columns scaled to microseconds next to a timestamp, arithmetic: new arrays."""
    before = {name: any_index.column(name).copy() for name in ("joined", "spend", "orders")}
    for text in ("seen >= joined + 1d", "spend / orders > 100", "spend - orders * 2 <= 3"):
        _truth(parse_rule(text), any_index)  # type: ignore[arg-type]
    for name, values in before.items():
        assert (any_index.column(name) == values).all(), name
