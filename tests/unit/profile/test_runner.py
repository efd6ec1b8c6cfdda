"""Running a build's stages on DuckDB: the all-SQL plan in one assembly, Python columns in
between stages, the steps' timings and progress, and errors naming the step."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.compile import plan_queries, validate_tags
from portrait.compile.parts import BuildContext
from portrait.engine import Engine, EngineSettings, open_engine
from portrait.errors import BuildError
from portrait.model.tags import AnyTag, DerivedTag, TagSet
from portrait.profile.computers import compute_profile
from portrait.progress import NullProgress
from tests.python_kind import DoubledComputer, DoubledTag, registered, with_tags
from tests.unit.tag_files import SCHEMA, parse

AS_OF = dt.date(2026, 10, 31)
BASE = validate_tags(
    parse(
        "tags:\n"
        "  - {name: city, kind: attribute}\n"
        "  - {name: views, kind: metric, from: events, agg: count}\n"
        '  - {name: busy, kind: derived, type: bool, expr: "views > 1"}\n'
    ),
    SCHEMA,
)
STAGED = with_tags(
    BASE,
    DoubledTag(name="twice_views", source="views"),
    DerivedTag(name="plus", expr="twice_views + 1", type="int", depends_on=("twice_views",)),
)


class Recording:
    """The engine, noting what it is asked to run."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.calls: list[tuple[str, str, str]] = []

    def materialize(self, name: str, query: Any) -> int:
        self.calls.append(("materialize", name, query.sql("duckdb")))
        return self.engine.materialize(name, query)

    def create_view(self, name: str, query: Any) -> None:
        self.calls.append(("create_view", name, query.sql("duckdb")))
        self.engine.create_view(name, query)

    def to_parquet(self, query: Any, path: Path) -> int:
        self.calls.append(("to_parquet", str(path), query.sql("duckdb")))
        return self.engine.to_parquet(query, path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


class Counting(NullProgress):
    def __init__(self) -> None:
        self.totals: list[float | None] = []
        self.advanced = 0

    def start(self, step: str, total: float | None = None) -> None:
        self.totals.append(total)

    def advance(self, amount: float = 1) -> None:
        self.advanced += 1


@pytest.fixture
def engine() -> Iterator[Recording]:
    engine = open_engine(EngineSettings())
    users = pa.table({"uid": [0, 1, 2], "user_id": ["a", "b", "c"], "age": [20, 30, None]})
    users = users.append_column("city", pa.array(["北京", None, "上海"]))
    stamps = pa.array([dt.datetime(2026, 10, d) for d in (1, 2, 3)], pa.timestamp("us"))
    events = pa.table({"user_id": ["a", "a", "b"], "ts": stamps, "event": ["v", "v", "v"]})
    engine.register_arrow("users", users)
    engine.register_arrow("events", events)
    try:
        yield Recording(engine)
    finally:
        engine.close()


def run(engine: Recording, tags: TagSet, target: Path, **kwargs: Any) -> dict[str, float]:
    context = BuildContext(tags, AS_OF, SCHEMA)
    compute = kwargs.pop("compute", set(tags))
    progress = kwargs.pop("progress", NullProgress())
    return compute_profile(engine, context, compute, target, progress, **kwargs)


def test_all_sql_runs_the_plan_in_one_assembly(engine: Recording, tmp_path: Path) -> None:
    progress = Counting()
    timings = run(engine, BASE, tmp_path / "p.parquet", progress=progress)
    assert list(timings) == ["attribute+bucket", "metric:events", "assemble+derived+write"]
    assert progress.totals == [3] and progress.advanced == 3
    plan = plan_queries(BASE, set(BASE), AS_OF, SCHEMA)
    assert plan.assemble is not None
    assert engine.calls == [
        ("materialize", "t_users", plan.users.sql("duckdb")),
        ("materialize", "t_agg_events", plan.aggregates["events"].sql("duckdb")),
        ("to_parquet", str(tmp_path / "p.parquet"), plan.assemble.sql("duckdb")),
    ]
    profile = pq.read_table(tmp_path / "p.parquet").to_pylist()
    assert [(r["views"], r["busy"]) for r in profile] == [(2, True), (1, False), (0, False)]


def test_python_columns_between_stages(engine: Recording, tmp_path: Path) -> None:
    progress = Counting()
    with registered(DoubledComputer()) as computer:
        timings = run(engine, STAGED, tmp_path / "p.parquet", progress=progress)
    assert list(timings) == [
        "attribute+bucket",
        "metric:events",
        "assemble+derived (stage 1)",
        "doubled:twice_views",
        "assemble+derived+write",
    ]
    assert progress.totals == [5] and progress.advanced == 5
    assert isinstance(computer, DoubledComputer)
    assert computer.calls == [["uid", "user_id", "views"]]
    # the stage between the Python column and the rest is a view: nothing holds the profile
    assert [c[:2] for c in engine.calls] == [
        ("materialize", "t_users"),
        ("materialize", "t_agg_events"),
        ("create_view", "t_stage_0"),
        ("to_parquet", str(tmp_path / "p.parquet")),
    ]
    profile = pq.read_table(tmp_path / "p.parquet")
    assert profile.column_names == [
        "uid",
        "user_id",
        "city",
        "views",
        "busy",
        "twice_views",
        "plus",
    ]
    assert profile.schema.field("twice_views").type == pa.float64()
    assert profile.column("twice_views").to_pylist() == [4.0, 2.0, 0.0]
    assert profile.column("plus").to_pylist() == [5, 3, 1]


def test_python_column_reads_a_python_column_of_its_stage(
    engine: Recording, tmp_path: Path
) -> None:
    tags = with_tags(STAGED, DoubledTag(name="quad", source="twice_views", type="int"))
    with registered(DoubledComputer()) as computer:
        timings = run(engine, tags, tmp_path / "p.parquet")
    assert "doubled:quad" in timings
    assert isinstance(computer, DoubledComputer)
    assert computer.calls[1] == ["uid", "user_id", "twice_views"]
    assert pq.read_table(tmp_path / "p.parquet").column("quad").to_pylist() == [8, 4, 0]


def test_taken_over_columns(engine: Recording, tmp_path: Path) -> None:
    with registered(DoubledComputer()):
        run(engine, STAGED, tmp_path / "old.parquet")
        engine.register_parquet("prev_profile", [tmp_path / "old.parquet"])
        timings = run(
            engine,
            STAGED,
            tmp_path / "new.parquet",
            compute={"plus"},
            reuse_relation="prev_profile",
        )
    assert list(timings) == ["attribute+bucket", "assemble+derived+write"]  # one stage
    new = pq.read_table(tmp_path / "new.parquet")
    assert new.to_pylist() == pq.read_table(tmp_path / "old.parquet").to_pylist()


class Failing(DoubledComputer):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result

    def column(self, tag: AnyTag, inputs: pa.Table, context: BuildContext) -> pa.Array:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (RuntimeError("boom\nmore"), "computing doubled:twice_views failed: boom"),
        (ZeroDivisionError(), "computing doubled:twice_views failed: ZeroDivisionError"),
        (pa.array([1.0]), "computing doubled:twice_views failed: 1 values for 3 users"),
    ],
)
def test_python_failure_names_kind_and_tag(
    engine: Recording, tmp_path: Path, result: Any, message: str
) -> None:
    with registered(Failing(result)), pytest.raises(BuildError) as info:
        run(engine, STAGED, tmp_path / "p.parquet")
    assert re.fullmatch(message, info.value.message)
    assert info.value.hint == "check the tag definitions of this group (portrait tags show NAME)"


def test_sql_failures_name_the_step(engine: Recording, tmp_path: Path) -> None:
    bad_cast = with_tags(BASE, DerivedTag(name="n", expr="city", type="int", depends_on=("city",)))
    with pytest.raises(BuildError, match=r"^assembling the profile failed: ") as info:
        run(engine, bad_cast, tmp_path / "p.parquet")
    assert info.value.hint == "a derived tag or a type may be wrong (portrait tags show NAME)"
    # SCHEMA has events.price; the events registered here have none
    spend = validate_tags(
        parse("tags:\n  - {name: spend, kind: metric, from: events, agg: sum, of: price}\n"),
        SCHEMA,
    )
    with pytest.raises(BuildError, match=r"^computing metric:events failed: ") as info:
        run(engine, spend, tmp_path / "p.parquet")
    assert info.value.hint == "check the tag definitions of this group (portrait tags show NAME)"


def test_running_out_of_memory_says_to_raise_the_limit_not_to_fix_a_tag(tmp_path: Path) -> None:
    small = open_engine(EngineSettings(memory_limit="2MB"))
    users = pa.table({"uid": list(range(200_000)), "user_id": [f"u{i}" for i in range(200_000)]})
    users = users.append_column("age", pa.array([i % 90 for i in range(200_000)]))
    users = users.append_column("city", pa.array([f"c{i % 500}" for i in range(200_000)]))
    n = 2_000_000
    stamps = pa.array([dt.datetime(2026, 10, 1)] * n, pa.timestamp("us"))
    who = pa.array([f"u{i % 200_000}" for i in range(n)])
    small.register_arrow("users", users)
    small.register_arrow("events", pa.table({"user_id": who, "ts": stamps, "event": ["v"] * n}))
    try:
        with pytest.raises(BuildError) as info:
            run(Recording(small), BASE, tmp_path / "p.parquet")
    finally:
        small.close()
    assert "Out of Memory" in info.value.message
    assert "engine.memory_limit" in (info.value.hint or "")
    assert not (tmp_path / "p.parquet").exists()


def test_an_assembly_failure_before_a_python_column_is_the_assemblys(
    engine: Recording, tmp_path: Path
) -> None:
    # the stage a Python column reads is a view: its bad cast fails when the column reads it,
    # and is still told as the assembly's, not the Python tag's
    tags = with_tags(
        BASE,
        DerivedTag(name="n", expr="city", type="int", depends_on=("city",)),
        DoubledTag(name="twice_n", source="n"),
    )
    with registered(DoubledComputer()), pytest.raises(BuildError) as info:
        run(engine, tags, tmp_path / "p.parquet")
    assert info.value.message.startswith("assembling the profile failed: ")
    assert info.value.hint == "a derived tag or a type may be wrong (portrait tags show NAME)"
    assert not (tmp_path / "p.parquet").exists()
