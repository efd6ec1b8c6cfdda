"""Comparisons of expressions on the bitmap path give SQL's three-valued answer — (true,
unknown) — whichever way they are computed: a range query (a numeric tag or ``size()``
against a constant) or per-user arrays (tag against tag, arithmetic), checked against a plain
Python evaluation of every user; and the per-user arrays are kept in a bounded LRU cache."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from portrait.audience.comparisons import comparison_truth
from portrait.errors import UnsupportedLeafError
from portrait.index import ProfileIndex, RangeIndex, ValueIndex, build_tag_index
from portrait.index import profile_index as profile_index_module
from portrait.index.profile_index import index_file
from portrait.model.expressions import Arithmetic, AsOf, Duration, Expression, Size, TagRef
from portrait.model.rules import Comparison, TagCondition
from portrait.rules import parse_rule

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


@pytest.fixture
def index(index_dir: Path) -> ProfileIndex:
    """A fresh profile index (nothing loaded, no arrays kept)."""
    return ProfileIndex(index_dir, dict(TYPES), USERS)


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
    """Counts the per-user arrays and size indexes a comparison asks for."""

    def __init__(self) -> None:
        self.dense: list[int] = []
        self.sizes_index = 0


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen = Reads()
    dense, sizes_index = RangeIndex.dense, ValueIndex.sizes_index

    def counting_dense(self: RangeIndex) -> Any:
        seen.dense.append(id(self))
        return dense(self)

    def counting_sizes_index(self: ValueIndex) -> Any:
        seen.sizes_index += 1
        return sizes_index(self)

    monkeypatch.setattr(RangeIndex, "dense", counting_dense)
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
CATEGORICAL = ["city = home", "city != home", "vip = member", "vip != member"]


def _truth(cond: Comparison, index: ProfileIndex, as_of: dt.date | None = AS_OF) -> Any:
    true, unknown = comparison_truth(cond, index, as_of)
    return list(true), list(unknown)


@pytest.mark.parametrize("name", list(RANGED))
def test_range_queries_give_sqls_answer(name: str, index: ProfileIndex, reads: Reads) -> None:
    cond = RANGED[name]
    assert isinstance(cond, Comparison)
    assert _truth(cond, index) == reference(cond)
    assert reads.dense == []  # no per-user arrays were read


@pytest.mark.parametrize("name", list(RANGED_SIZES))
def test_sizes_are_range_queries(name: str, index: ProfileIndex, reads: Reads) -> None:
    cond = RANGED_SIZES[name]
    assert _truth(cond, index) == reference(cond)
    assert reads.sizes_index == 1 and reads.dense == []


@pytest.mark.parametrize("text", ARRAYS)
def test_per_user_arrays_give_sqls_answer(text: str, index: ProfileIndex, reads: Reads) -> None:
    cond = parse_rule(text)
    assert isinstance(cond, Comparison)
    assert _truth(cond, index) == reference(cond)
    assert reads.dense  # computed from the per-user arrays


@pytest.mark.parametrize("text", ARRAY_SIZES)
def test_sizes_in_arithmetic_give_sqls_answer(text: str, index: ProfileIndex, reads: Reads) -> None:
    cond = parse_rule(text)
    assert isinstance(cond, Comparison)
    assert _truth(cond, index) == reference(cond)
    assert reads.sizes_index == 0  # not through the range index of sizes


@pytest.mark.parametrize("text", CATEGORICAL)
def test_text_and_boolean_tags_compared_with_each_other(
    text: str, index: ProfileIndex, reads: Reads
) -> None:
    cond = parse_rule(text)
    assert isinstance(cond, Comparison)
    assert _truth(cond, index) == reference(cond)
    assert reads.dense == []


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


@pytest.mark.xfail(
    strict=True,
    raises=UnsupportedLeafError,
    reason="a compare node of a text or boolean tag and a literal (valid in the JSON form; "
    "validate_rule accepts it and print_rule prints it as the tag condition) raises "
    "UnsupportedLeafError('text is compared tag with tag, or tag with a value') on the bitmap "
    "path (and an AssertionError in compile.rules' SQL)",
)
@pytest.mark.parametrize(
    ("cond", "same"),
    [
        (C(T("city"), "=", "北京"), TagCondition(tag="city", op="=", value="北京")),
        (C(T("vip"), "!=", True), TagCondition(tag="vip", op="!=", value=True)),
    ],
    ids=["text", "bool"],
)
def test_a_compare_node_of_a_text_tag_and_a_value(
    cond: Comparison, same: TagCondition, index: ProfileIndex
) -> None:
    from portrait.audience import evaluate_rule
    from portrait.audience.evaluate import Sources

    true, _ = comparison_truth(cond, index, AS_OF)
    assert list(true) == list(evaluate_rule(same, index, Sources(as_of=AS_OF)))


# -- the per-user arrays are kept, least recently used first out ----------------------------


def test_dense_arrays_are_kept_and_evicted_least_recently_used(
    index: ProfileIndex, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = USERS * (8 + 1)  # float64 values and a bool mask per user
    monkeypatch.setattr(profile_index_module, "DENSE_CACHE_BYTES", 2 * one)  # two tags' worth
    spend = index.dense("spend")
    orders = index.dense("orders")
    assert index.dense("spend") is spend  # kept: not read again
    assert len(reads.dense) == 2
    visits = index.dense("visits")  # a third: the least recently used (orders) goes
    assert len(reads.dense) == 3
    assert index.dense("spend") is spend
    assert index.dense("visits") is visits
    assert len(reads.dense) == 3
    again = index.dense("orders")  # read again; now spend is the least recently used
    assert again is not orders and len(reads.dense) == 4
    assert (again[0] == orders[0]).all() and (again[1] == orders[1]).all()
    index.dense("visits")
    assert len(reads.dense) == 4
    index.dense("spend")
    assert len(reads.dense) == 5


def test_one_array_larger_than_the_cache_is_still_kept(
    index: ProfileIndex, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_index_module, "DENSE_CACHE_BYTES", 1)
    spend = index.dense("spend")
    assert index.dense("spend") is spend
    assert len(reads.dense) == 1
    index.dense("orders")  # replaces it
    assert index.dense("spend") is not spend
    assert len(reads.dense) == 3


def test_comparisons_reuse_the_kept_arrays(index: ProfileIndex, reads: Reads) -> None:
    cond = parse_rule("spend > limit_")
    assert isinstance(cond, Comparison)
    first = _truth(cond, index)
    assert len(reads.dense) == 2
    assert _truth(cond, index) == first
    assert len(reads.dense) == 2  # the next rule reads no index again
    # the date arrays are not changed in place when scaled to microseconds
    days = index.dense("joined")[0].copy()
    _truth(parse_rule("seen >= joined + 1d"), index)  # type: ignore[arg-type]
    assert (index.dense("joined")[0] == days).all()
