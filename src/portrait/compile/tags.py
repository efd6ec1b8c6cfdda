"""Tag definitions → SQLGlot queries.

The build runs, per source: one query over ``users`` (attributes and buckets of columns), one
aggregate query per event table holding every metric tag on it as ``agg(...) FILTER (WHERE
...)`` (one scan, like hand-written SQL), one query per preference tag, then an assembly query
that joins them on the user, casts each tag to its type and adds derived tags level by level.

Windows end on the as-of date: ``last Nd`` covers the N calendar days (UTC) up to and including
it, i.e. ``ts >= as_of - (N-1) days AND ts < as_of + 1 day``; ``all`` covers everything up to
the end of the as-of date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from portrait.compile.conditions import where_predicate
from portrait.compile.virtual import VIRTUAL_TYPES, substitute_virtual
from portrait.errors import InputError
from portrait.model.schema import SQL_TYPES, Schema
from portrait.model.tags import (
    RFM_SEGMENTS,
    ZERO_WHEN_EMPTY,
    AnyTag,
    AttributeTag,
    BucketTag,
    DerivedTag,
    MetricTag,
    PreferenceTag,
    RfmTag,
    TagSet,
)

#: the column every per-user relation is keyed by
TAG_TABLE_KEY = "user_id"


def sql_type(value_type: str) -> exp.DataType:
    return exp.DataType.build(SQL_TYPES[value_type], dialect="duckdb")


def _ts(day: dt.date) -> exp.Expr:
    return exp.cast(exp.Literal.string(f"{day.isoformat()} 00:00:00"), exp.DataType.Type.TIMESTAMP)


def window_bounds(days: int | None, as_of: dt.date) -> tuple[dt.date | None, dt.date]:
    """[start, end) dates of a window of ``days`` days ending on ``as_of`` (None: unbounded)."""
    end = as_of + dt.timedelta(days=1)
    return (None if days is None else as_of - dt.timedelta(days=days - 1)), end


def _window_predicate(days: int | None, as_of: dt.date, time_column: str = "ts") -> exp.Expr:
    start, end = window_bounds(days, as_of)
    upper = exp.LT(this=exp.column(time_column), expression=_ts(end))
    if start is None:
        return upper
    return exp.and_(exp.GTE(this=exp.column(time_column), expression=_ts(start)), upper)


def _agg_expression(tag: MetricTag, as_of: dt.date) -> exp.Expr:
    of = exp.column(tag.of) if tag.of else None
    ts = exp.column("ts")
    match tag.agg:
        case "count":
            return exp.Count(this=exp.Star())
        case "sum":
            assert of is not None
            return exp.Sum(this=of)
        case "avg":
            assert of is not None
            return exp.Avg(this=of)
        case "min":
            assert of is not None
            return exp.Min(this=of)
        case "max":
            assert of is not None
            return exp.Max(this=of)
        case "count_distinct":
            assert of is not None
            return exp.Count(this=exp.Distinct(expressions=[of]))
        case "distinct_days":
            return exp.Count(this=exp.Distinct(expressions=[exp.cast(ts, "DATE")]))
        case "first_time":
            return exp.Min(this=ts)
        case "last_time":
            return exp.Max(this=ts)
        case "days_since_last":
            return exp.DateDiff(
                this=exp.cast(exp.Literal.string(as_of.isoformat()), "DATE"),
                expression=exp.cast(exp.Max(this=ts), "DATE"),
                unit=exp.var("DAY"),
            )
    raise AssertionError(tag.agg)


def bucket_expression(tag: BucketTag, source: exp.Expr) -> exp.Expr:
    """CASE over the bin edges: ``<b0``, ``b0-b1``, …, ``bn+``; NULL stays NULL."""
    labels = tag.bucket_labels()
    case = exp.Case().when(exp.Is(this=source.copy(), expression=exp.Null()), exp.Null())
    for edge, label in zip(tag.bins, labels, strict=False):
        case = case.when(
            exp.LT(this=source.copy(), expression=exp.convert(edge)), exp.Literal.string(label)
        )
    return case.else_(exp.Literal.string(labels[-1]))


def users_query(tags: Sequence[AnyTag]) -> exp.Select:
    """``SELECT uid, user_id, <attributes and buckets of users columns> FROM users``."""
    columns: list[exp.Expr] = [exp.column("uid"), exp.column("user_id")]
    for tag in tags:
        if isinstance(tag, AttributeTag):
            value: exp.Expr = exp.column(tag.source_column)
        elif isinstance(tag, BucketTag):
            value = bucket_expression(tag, exp.column(tag.source))
        else:
            raise ValueError(f"{tag.name} is not computed from the users table")
        columns.append(exp.alias_(value, tag.name, quoted=True))
    return exp.select(*columns).from_("users")


def aggregate_query(
    table: str,
    tags: Sequence[MetricTag],
    as_of: dt.date,
    timezone: str = "UTC",
    columns_of_table: set[str] | None = None,
) -> exp.Select:
    """One scan of ``table`` computing every metric tag as a filtered aggregate per user."""
    windows = [t.window_days for t in tags]
    widest = None if any(w is None for w in windows) else max(w for w in windows if w is not None)
    columns: list[exp.Expr] = [exp.column(TAG_TABLE_KEY)]
    for tag in tags:
        agg = _agg_expression(tag, as_of)
        conditions = []
        if tag.window_days != widest:
            conditions.append(_window_predicate(tag.window_days, as_of))
        predicate = where_predicate(dict(tag.where), tag.name)
        if predicate is not None:
            conditions.append(predicate)
        if conditions:
            condition = exp.and_(*conditions) if len(conditions) > 1 else conditions[0]
            if isinstance(agg, exp.DateDiff):  # FILTER goes on the aggregate inside
                inner = agg.expression.this
                agg.expression.set(
                    "this", exp.Filter(this=inner, expression=exp.Where(this=condition))
                )
            else:
                agg = exp.Filter(this=agg, expression=exp.Where(this=condition))
        columns.append(exp.alias_(agg, tag.name, quoted=True))
    query = (
        exp.select(*columns)
        .from_(table)
        .where(_window_predicate(widest, as_of))
        .group_by(exp.column(TAG_TABLE_KEY))
    )
    result = substitute_virtual(query, table, timezone, columns_of_table)
    assert isinstance(result, exp.Select)
    return result


#: Aggregates over distinct values, computed in a query of their own: inside the one-scan
#: aggregate a COUNT(DISTINCT …) FILTER makes DuckDB split the aggregate into an extra pass over
#: every row; counting distinct (user, value) pairs of the tag's own window is much cheaper.
DISTINCT_AGGS = frozenset({"distinct_days", "count_distinct"})


def distinct_count_query(
    tag: MetricTag,
    as_of: dt.date,
    timezone: str = "UTC",
    columns_of_table: set[str] | None = None,
) -> exp.Select:
    """``count(DISTINCT day or value)`` of one metric tag per user, from distinct pairs."""
    key: exp.Expr = exp.cast(exp.column("ts"), "DATE")
    if tag.agg == "count_distinct":
        assert tag.of is not None
        key = exp.column(tag.of)
    conditions = [_window_predicate(tag.window_days, as_of)]
    predicate = where_predicate(dict(tag.where), tag.name)
    if predicate is not None:
        conditions.append(predicate)
    if tag.agg == "count_distinct":  # ts is required, so a day is never missing
        conditions.append(exp.not_(exp.Is(this=key.copy(), expression=exp.Null())))
    pairs = substitute_virtual(
        exp.select(exp.column(TAG_TABLE_KEY), exp.alias_(key, "k"))
        .distinct()
        .from_(tag.from_)
        .where(exp.and_(*conditions)),
        tag.from_,
        timezone,
        columns_of_table,
    )
    return (
        exp.select(
            exp.column(TAG_TABLE_KEY), exp.alias_(exp.Count(this=exp.Star()), tag.name, quoted=True)
        )
        .from_(exp.Subquery(this=pairs, alias=exp.TableAlias(this=exp.to_identifier("pairs"))))
        .group_by(exp.column(TAG_TABLE_KEY))
    )


def rfm_query(tag: RfmTag, as_of: dt.date) -> exp.Select:
    """``(user_id, <tag>)`` for one RFM column; users without orders in the window have none."""
    column = "segment" if tag.score == "segment" else tag.score
    scores = rfm_scores_query(tag, as_of)
    return exp.select(
        exp.column(TAG_TABLE_KEY), exp.alias_(exp.column(column), tag.name, quoted=True)
    ).from_(exp.Subquery(this=scores, alias=exp.TableAlias(this=exp.to_identifier("rfm"))))


def rfm_scores_query(tag: RfmTag, as_of: dt.date) -> exp.Select:
    """Per user with orders in the window of ``tag``: ``recency`` (days from the last order to
    the as-of date), ``frequency`` (orders), ``monetary`` (amount), the scores ``r``, ``f``,
    ``m`` and the ``segment`` (the tag's ``score`` is not used).

    Score s of a value among n users = 1 + floor(scores × (rank − 1) / n), rank ascending in
    "better" order (recency descending: the most recent rank last), ties sharing the lower
    rank, so equal values get equal scores. A segment letter is H when the score is strictly
    above the mean score of the scored users.
    """
    conditions = [_window_predicate(tag.window_days, as_of)]
    predicate = where_predicate(dict(tag.where), tag.name)
    if predicate is not None:
        conditions.append(predicate)
    as_of_date = exp.cast(exp.Literal.string(as_of.isoformat()), exp.DataType.Type.DATE)
    recency = exp.DateDiff(
        this=as_of_date,
        expression=exp.cast(exp.Max(this=exp.column("ts")), exp.DataType.Type.DATE),
        unit=exp.var("DAY"),
    )
    base = (
        exp.select(
            exp.column(TAG_TABLE_KEY),
            exp.alias_(recency, "recency"),
            exp.alias_(exp.Count(this=exp.Star()), "frequency"),
            exp.alias_(exp.func("coalesce", exp.Sum(this=exp.column("amount")), 0), "monetary"),
        )
        .from_(tag.from_)
        .where(exp.and_(*conditions))
        .group_by(exp.column(TAG_TABLE_KEY))
    )

    def score(column: str, descending: bool) -> exp.Expr:
        order = exp.Order(expressions=[exp.Ordered(this=exp.column(column), desc=descending)])
        rank = exp.Window(this=exp.func("rank"), order=order)
        total = exp.Window(this=exp.Count(this=exp.Star()))
        value = exp.Add(
            this=exp.Literal.number(1),
            expression=exp.Floor(
                this=exp.Div(
                    this=exp.paren(
                        exp.Mul(
                            this=exp.Literal.number(tag.scores),
                            expression=exp.paren(
                                exp.Sub(this=rank, expression=exp.Literal.number(1))
                            ),
                        )
                    ),
                    expression=total,
                )
            ),
        )
        return exp.cast(value, exp.DataType.Type.INT)

    measures = [exp.column(c) for c in ("recency", "frequency", "monetary")]
    scored = exp.select(
        exp.column(TAG_TABLE_KEY),
        *measures,
        exp.alias_(score("recency", True), "r"),
        exp.alias_(score("frequency", False), "f"),
        exp.alias_(score("monetary", False), "m"),
    ).from_(exp.Subquery(this=base, alias=exp.TableAlias(this=exp.to_identifier("base"))))

    def letter(column: str) -> exp.Expr:
        mean = exp.Window(this=exp.Avg(this=exp.column(column)))
        return (
            exp.Case()
            .when(exp.GT(this=exp.column(column), expression=mean), exp.Literal.string("H"))
            .else_(exp.Literal.string("L"))
        )

    key = exp.DPipe(
        this=exp.DPipe(this=letter("r"), expression=letter("f")), expression=letter("m")
    )
    case = exp.Case()
    for code, label in RFM_SEGMENTS.items():
        case = case.when(
            exp.EQ(this=key.copy(), expression=exp.Literal.string(code)),
            exp.Literal.string(label),
        )
    return exp.select(
        exp.column(TAG_TABLE_KEY),
        *(exp.column(c) for c in ("recency", "frequency", "monetary", "r", "f", "m")),
        exp.alias_(case, "segment"),
    ).from_(exp.Subquery(this=scored, alias=exp.TableAlias(this=exp.to_identifier("scored"))))


_PREFERENCE_TEMPLATE = """
SELECT user_id, ARRAY_AGG(v ORDER BY rn) AS :name FROM (
  SELECT user_id, v, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY :ranking) AS rn FROM (
    SELECT user_id, v, COUNT(*) AS n, MAX(ts) AS last_ts FROM (
      SELECT user_id, ts, CAST(:value AS VARCHAR) AS v FROM :source WHERE :condition
    ) WHERE :keep GROUP BY user_id, v HAVING COUNT(*) >= :min_count
  )
) WHERE rn <= :top GROUP BY user_id
"""


def preference_query(
    tag: PreferenceTag,
    as_of: dt.date,
    property_type: str = "string",
    timezone: str = "UTC",
    columns_of_table: set[str] | None = None,
) -> exp.Select:
    """Top ``tag.top`` values of ``tag.property_name`` per user, most preferred first.

    Frequency ranks by count, then most recent, then value; recency by most recent, then count.
    A list-valued property (such as ``orders.items``) counts each element.
    """
    conditions = [_window_predicate(tag.window_days, as_of)]
    predicate = where_predicate(dict(tag.where), tag.name)
    if predicate is not None:
        conditions.append(predicate)
    value: exp.Expr = exp.column(tag.property_name)
    is_list = property_type.startswith("list")
    is_virtual = tag.property_name in VIRTUAL_TYPES and tag.property_name not in (
        columns_of_table or set()
    )
    if not is_virtual:
        # Filter the stored column, not the computed value: DuckDB would push a filter on the
        # computed value into the scan and evaluate the expression twice.
        conditions.append(
            exp.not_(exp.Is(this=exp.column(tag.property_name), expression=exp.Null()))
        )
    if is_list:
        value = exp.Unnest(expressions=[value])
    ranking = "n DESC, last_ts DESC, v" if tag.by == "frequency" else "last_ts DESC, n DESC, v"
    value = substitute_virtual(value, tag.from_, timezone, columns_of_table)
    condition = substitute_virtual(exp.and_(*conditions), tag.from_, timezone, columns_of_table)
    template = sqlglot.parse_one(_PREFERENCE_TEMPLATE, read="duckdb")
    order = sqlglot.parse_one(f"SELECT 1 ORDER BY {ranking}", read="duckdb").args["order"]
    query = exp.replace_placeholders(
        template,
        name=exp.to_identifier(tag.name, quoted=True),
        value=value,
        source=exp.to_table(tag.from_),
        condition=condition,
        min_count=exp.convert(tag.min_count),
        keep=(
            exp.not_(exp.Is(this=exp.column("v"), expression=exp.Null())) if is_list else exp.true()
        ),
        top=exp.convert(tag.top),
        ranking=exp.column("n"),
    )
    window = query.find(exp.Window)
    assert window is not None
    window.set("order", order)
    assert isinstance(query, exp.Select)
    return query


def derived_select(
    relation: exp.Expr,
    tags: Iterable[DerivedTag | BucketTag],
    parsed: Mapping[str, exp.Expr],
) -> exp.Select:
    """``SELECT *, <expr> AS tag … FROM (relation)``: one level of tags computed from tags."""
    columns: list[exp.Expr] = [exp.Star()]
    for tag in tags:
        if isinstance(tag, BucketTag):
            value = bucket_expression(tag, exp.column(tag.source, quoted=True))
        else:
            value = exp.cast(parsed[tag.name].copy(), sql_type(tag.value_type))
        columns.append(exp.alias_(value, tag.name, quoted=True))
    return exp.select(*columns).from_(
        exp.Subquery(this=relation, alias=exp.TableAlias(this=exp.to_identifier("t")))
    )


@dataclass
class BuildQueries:
    """Everything one build runs, in order. Relation names are for the engine's temp tables."""

    users: exp.Select
    aggregates: dict[str, exp.Select] = field(default_factory=dict)  # table → query
    per_tag: dict[str, exp.Select] = field(default_factory=dict)  # tag → query of its own
    assemble: exp.Select | None = None
    kinds: dict[str, list[str]] = field(default_factory=dict)  # relation → tag names


def _typed(tag: AnyTag, column: exp.Expr) -> exp.Expr:
    if isinstance(tag, MetricTag) and tag.agg in ZERO_WHEN_EMPTY:
        column = exp.Coalesce(this=column, expressions=[exp.convert(0)])
    return exp.alias_(exp.cast(column, sql_type(tag.value_type)), tag.name, quoted=True)


def plan_queries(
    tags: TagSet,
    compute: set[str],
    as_of: dt.date,
    schema: Schema,
    *,
    reuse_relation: str | None = None,
    timezone: str = "UTC",
) -> BuildQueries:
    """Queries computing the tags in ``compute``; the others are read from ``reuse_relation``
    (the previous profile, keyed by uid). The assembly query yields ``uid, user_id, <tags>`` in
    declaration order.
    """
    import portrait.compile.validate as validate

    levels = tags.levels()
    level_of = {name: i for i, names in enumerate(levels) for name in names}
    base_users: list[AnyTag] = []
    metrics: dict[str, list[MetricTag]] = {}
    singles: list[MetricTag | PreferenceTag | RfmTag] = []
    later: list[list[DerivedTag | BucketTag]] = [[] for _ in levels]
    for name in tags:
        if name not in compute:
            continue
        tag = tags[name]
        if isinstance(tag, AttributeTag) or (isinstance(tag, BucketTag) and tag.source not in tags):
            base_users.append(tag)
        elif isinstance(tag, MetricTag) and tag.agg not in DISTINCT_AGGS:
            metrics.setdefault(tag.from_, []).append(tag)
        elif isinstance(tag, MetricTag | PreferenceTag | RfmTag):
            singles.append(tag)
        else:
            assert isinstance(tag, DerivedTag | BucketTag)
            later[level_of[name]].append(tag)

    plan = BuildQueries(users=users_query(base_users))
    plan.kinds["users"] = [t.name for t in base_users]
    for table, group in metrics.items():
        plan.aggregates[table] = aggregate_query(
            table, group, as_of, timezone, set(schema.get(table, {}))
        )
        plan.kinds[f"agg_{table}"] = [t.name for t in group]
    for single in singles:
        columns = set(schema.get(single.from_, {}))
        if isinstance(single, PreferenceTag):
            query = preference_query(
                single, as_of, _property_type(schema, single), timezone, columns
            )
        elif isinstance(single, RfmTag):
            query = rfm_query(single, as_of)
        else:
            query = distinct_count_query(single, as_of, timezone, columns)
        plan.per_tag[single.name] = query
        plan.kinds[f"tag_{single.name}"] = [single.name]

    # Assembly: users ⟕ aggregates ⟕ per-tag queries ⟕ previous profile, typed, in
    # declaration order (the select list is reordered below).
    select: list[exp.Expr] = [exp.column("uid", table="u"), exp.column("user_id", table="u")]
    query = exp.select().from_(exp.to_table("t_users").as_("u"))
    for tag in base_users:
        select.append(_typed(tag, exp.column(tag.name, table="u", quoted=True)))
    for i, table in enumerate(plan.aggregates):
        alias = f"a{i}"
        query = query.join(
            exp.to_table(f"t_agg_{table}").as_(alias), using=["user_id"], join_type="left"
        )
        for tag in metrics[table]:
            select.append(_typed(tag, exp.column(tag.name, table=alias, quoted=True)))
    for i, single in enumerate(singles):
        alias = f"p{i}"
        query = query.join(
            exp.to_table(f"t_tag_{single.name}").as_(alias), using=["user_id"], join_type="left"
        )
        select.append(_typed(single, exp.column(single.name, table=alias, quoted=True)))
    reused = [n for n in tags if n not in compute]
    if reused:
        assert reuse_relation is not None, "tags to reuse need the previous profile"
        query = query.join(
            exp.to_table(reuse_relation).as_("prev"), using=["uid"], join_type="left"
        )
        select.extend(exp.column(n, table="prev", quoted=True) for n in reused)
    relation: exp.Expr = query.select(*select)
    parsed = {
        t.name: validate.parse_derived(t, tags, tags)
        for level in later
        for t in level
        if isinstance(t, DerivedTag)
    }
    for level in later:
        if level:
            relation = derived_select(relation, level, parsed)
    final = [exp.column("uid"), exp.column("user_id")] + [exp.column(n, quoted=True) for n in tags]
    plan.assemble = (
        exp.select(*final)
        .from_(exp.Subquery(this=relation, alias=exp.TableAlias(this=exp.to_identifier("p"))))
        .order_by("uid")
    )
    return plan


def _property_type(schema: Schema, tag: PreferenceTag) -> str:
    columns = schema.get(tag.from_, {})
    return columns.get(tag.property_name) or VIRTUAL_TYPES.get(tag.property_name, "string")


def check_dialect(dialect: str) -> None:
    """Raise a clear error for a SQL dialect SQLGlot does not know."""
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError:
        raise InputError(
            f"unknown SQL dialect '{dialect}'",
            hint="e.g. duckdb, spark, postgres, clickhouse, bigquery, snowflake, trino",
        ) from None


def tag_sql(
    tags: TagSet,
    name: str,
    as_of: dt.date,
    schema: Schema,
    dialect: str = "duckdb",
    timezone: str = "UTC",
) -> str:
    """A standalone query computing one tag as ``(user_id, <tag>)``, for the catalog and docs."""
    check_dialect(dialect)
    import portrait.compile.validate as validate

    tag = tags[name]
    if isinstance(tag, AttributeTag) or (isinstance(tag, BucketTag) and tag.source not in tags):
        query = users_query([tag])
        query.set("expressions", query.expressions[1:])
    elif isinstance(tag, MetricTag):
        inner = aggregate_query(tag.from_, [tag], as_of, timezone, set(schema.get(tag.from_, {})))
        query = (
            exp.select(
                exp.column("user_id", table="u"),
                _typed(tag, exp.column(tag.name, table="a", quoted=True)),
            )
            .from_(exp.to_table("users").as_("u"))
            .join(
                exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("a"))),
                using=["user_id"],
                join_type="left",
            )
        )
    elif isinstance(tag, PreferenceTag):
        query = preference_query(
            tag, as_of, _property_type(schema, tag), timezone, set(schema.get(tag.from_, {}))
        )
    elif isinstance(tag, RfmTag):
        query = rfm_query(tag, as_of)
    elif isinstance(tag, BucketTag):
        query = exp.select(
            "user_id",
            exp.alias_(
                bucket_expression(tag, exp.column(tag.source, quoted=True)), tag.name, quoted=True
            ),
        ).from_("profile")
    else:
        assert isinstance(tag, DerivedTag)
        tree = validate.parse_derived(tag, tags, tags)
        query = exp.select(
            "user_id", exp.alias_(exp.cast(tree, sql_type(tag.value_type)), tag.name, quoted=True)
        ).from_("profile")
    return query.sql(dialect=dialect, pretty=True)
