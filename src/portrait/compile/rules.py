"""Rule → SQLGlot condition over the profile table (the path for other engines, and the
independent oracle the bitmap evaluation is tested against). SQL's own three-valued logic
gives the semantics documented in :mod:`portrait.audience.evaluate`.

Relations the SQL reads: ``profile`` (uid, user_id, a column per tag); for behaviour
conditions ``rollup`` (uid, event, business_line, day, n, sum_<p>) or, with
``behaviour_source="events"`` and always for property filters, ``events`` (user_id, ts,
event, …); ``segment_members`` (segment, uid) and ``id_list_members`` (list, uid).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from portrait.compile.conditions import COMPARISONS
from portrait.compile.rollup import ROLLUP_TABLE, sum_column
from portrait.errors import InputError
from portrait.model.expressions import (
    Arithmetic,
    AsOf,
    Duration,
    Expression,
    Size,
    TagRef,
    expression_type,
    temporal_kind,
)
from portrait.model.rules import (
    And,
    BehaviourCondition,
    CampaignRef,
    Comparison,
    IdListRef,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
)
from portrait.model.schema import Scalar, temporal_value

SEGMENT_MEMBERS = "segment_members"
ID_LIST_MEMBERS = "id_list_members"
CAMPAIGN_MEMBERS = "campaign_members"  # (campaign, outcome, uid)


@dataclass(frozen=True)
class RuleSQL:
    """What compiling a rule needs: tag value types, the as-of date windows end on, and where
    behaviour conditions read events from."""

    tag_types: Mapping[str, str]
    as_of: dt.date | None = None
    behaviour_source: Literal["rollup", "events"] = "rollup"
    profile: str = "profile"


def _as_of(value: AsOf, ctx: RuleSQL) -> dt.date:
    if ctx.as_of is None:
        raise InputError(
            "as_of needs the workspace's as-of date",
            hint="load events, or set profile.as_of in portrait.toml",
        )
    return value.date(ctx.as_of)


def _literal(value: Scalar | AsOf, value_type: str, ctx: RuleSQL) -> exp.Expr:
    if isinstance(value, AsOf):
        value = _as_of(value, ctx).isoformat()
    if value_type in ("date", "timestamp"):  # timestamps with an offset are compared in UTC
        moment = temporal_value(value, value_type)
        text = moment.isoformat(sep=" ") if isinstance(moment, dt.datetime) else str(moment)
        return exp.cast(exp.Literal.string(text), "DATE" if value_type == "date" else "TIMESTAMP")
    return exp.convert(value)


def _size(col: exp.Expr) -> exp.Expr:
    """A list's length, 0 for NULL (``size(tag)``)."""
    return exp.func("coalesce", exp.ArraySize(this=col), exp.convert(0))


def _tag(cond: TagCondition, value_type: str, ctx: RuleSQL) -> exp.Expr:
    col = exp.column(cond.tag, quoted=True)
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    lits = [_literal(v, value_type, ctx) for v in values if v is not None]
    empty = exp.EQ(this=exp.ArraySize(this=col.copy()), expression=exp.convert(0))
    null: exp.Expr = exp.Is(this=col.copy(), expression=exp.Null())
    op = cond.op
    # the null and empty tests are never unknown: NULL and [] are told apart
    if op == "is null":
        return null
    if op == "is not null":
        return exp.not_(null)
    if op == "is empty":
        return exp.EQ(this=_size(col.copy()), expression=exp.convert(0)).and_(exp.not_(null))
    if op == "is not empty":
        return exp.GT(this=_size(col.copy()), expression=exp.convert(0))
    if op in ("contains any", "contains all"):  # ARRAY_CONTAINS transpiles to every dialect
        tests = [exp.ArrayContains(this=col.copy(), expression=lit) for lit in lits]
        test = exp.or_(*tests) if op == "contains any" else exp.and_(*tests)
        return exp.Case().when(empty, exp.Null()).else_(exp.paren(test, copy=False))
    if op == "in":
        return col.isin(*lits)
    if op == "not in":
        return exp.not_(col.isin(*lits))
    if op == "between":
        return exp.Between(this=col, low=lits[0], high=lits[1])
    return COMPARISONS[op](this=col, expression=lits[0])


_ARITHMETIC: dict[str, type[exp.Binary]] = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}


class _Expressions:
    """A comparison's sides as SQL, typed as the bitmap path computes them: numbers as
    DOUBLE, division by zero NULL, dates moved by INTERVALs and compared as timestamps when
    a side is one."""

    def __init__(self, cond: Comparison, ctx: RuleSQL):
        self.ctx = ctx
        self.types = ctx.tag_types
        self.kind = temporal_kind(cond.sides, self.types)

    def __call__(self, expression: Expression) -> exp.Expr:
        if isinstance(expression, TagRef):
            col: exp.Expr = exp.column(expression.tag, quoted=True)
            value_type = self.types[expression.tag]
            if value_type in ("int", "float"):
                return exp.cast(col, "DOUBLE")
            if value_type == "date" and self.kind == "timestamp":
                return exp.cast(col, "TIMESTAMP")
            return col
        if isinstance(expression, Size):
            return exp.cast(_size(exp.column(expression.tag, quoted=True)), "DOUBLE")
        if isinstance(expression, AsOf):
            return self._day(_as_of(expression, self.ctx))
        if isinstance(expression, Duration):
            return exp.Interval(
                this=exp.Literal.string(str(expression.days)), unit=exp.Var(this="DAY")
            )
        if isinstance(expression, str):  # a date or timestamp literal (validated)
            assert self.kind is not None
            return _literal(expression, self.kind, self.ctx)
        if isinstance(expression, bool):
            return exp.convert(expression)
        if isinstance(expression, int | float):
            return exp.cast(exp.convert(expression), "DOUBLE")
        assert isinstance(expression, Arithmetic)
        left, right = self(expression.left), self(expression.right)
        if expression.op == "/":
            nonzero = exp.func("nullif", right, exp.cast(exp.convert(0), "DOUBLE"))
            return exp.paren(exp.Div(this=left, expression=nonzero), copy=False)
        kinds = {expression_type(side, self.types) for side in (expression.left, expression.right)}
        if "duration" in kinds and self.kind is not None:  # keep the comparison's type
            moved = _ARITHMETIC[expression.op](this=left, expression=right)
            return exp.cast(exp.paren(moved, copy=False), "TIMESTAMP")
        return exp.paren(_ARITHMETIC[expression.op](this=left, expression=right), copy=False)

    def _day(self, day: dt.date) -> exp.Expr:
        return exp.cast(
            exp.Literal.string(day.isoformat()), "TIMESTAMP" if self.kind == "timestamp" else "DATE"
        )


def _comparison(cond: Comparison, ctx: RuleSQL) -> exp.Expr:
    side = _Expressions(cond, ctx)
    if isinstance(cond.right, list):
        low, high = cond.right
        return exp.Between(this=side(cond.left), low=side(low), high=side(high))
    return COMPARISONS[cond.op](this=side(cond.left), expression=side(cond.right))


def _date(day: dt.date) -> exp.Expr:
    return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.Type.DATE)


def _number(value: float) -> exp.Expr:
    return exp.convert(int(value) if float(value).is_integer() else value)


def _behaviour(cond: BehaviourCondition, ctx: RuleSQL) -> exp.Expr:
    """``COALESCE((SELECT <measure> FROM <events> WHERE <this user, window, filters>), 0) op v``:
    users without matching events have 0."""
    try:
        start, end = cond.window.days(ctx.as_of)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    raw = ctx.behaviour_source == "events" or bool(cond.where)
    filters: list[exp.Expr] = []
    if raw:
        source = "events"
        ts = exp.column("ts", table="b")
        filters.append(
            exp.EQ(
                this=exp.column("user_id", table="b"),
                expression=exp.column("user_id", table=ctx.profile),
            )
        )
        filters.append(exp.GTE(this=ts.copy(), expression=exp.cast(_date(start), "TIMESTAMP")))
        filters.append(
            exp.LT(
                this=ts.copy(),
                expression=exp.cast(_date(end + dt.timedelta(days=1)), "TIMESTAMP"),
            )
        )
        day: exp.Expr = exp.cast(ts.copy(), exp.DataType.Type.DATE)
        count: exp.Expr = exp.Count(this=exp.Star())
        total = exp.Sum(this=exp.column(cond.of, table="b", quoted=True)) if cond.of else None
    else:
        source = ROLLUP_TABLE
        filters.append(
            exp.EQ(
                this=exp.column("uid", table="b"), expression=exp.column("uid", table=ctx.profile)
            )
        )
        day = exp.column("day", table="b")
        filters.append(exp.Between(this=day.copy(), low=_date(start), high=_date(end)))
        count = exp.Sum(this=exp.column("n", table="b"))
        total = (
            exp.Sum(this=exp.column(sum_column(cond.of), table="b", quoted=True))
            if cond.of
            else None
        )
    if cond.event is not None:
        filters.append(
            exp.EQ(this=exp.column("event", table="b"), expression=exp.convert(cond.event))
        )
    if cond.business_line is not None:
        filters.append(
            exp.EQ(
                this=exp.column("business_line", table="b"),
                expression=exp.convert(cond.business_line),
            )
        )
    for prop, value in sorted(cond.where.items()):
        filters.append(
            exp.EQ(this=exp.column(prop, table="b", quoted=True), expression=exp.convert(value))
        )
    if cond.measure == "count":
        measure = count
    elif cond.measure == "sum":
        assert total is not None
        measure = total
    else:
        measure = exp.Count(this=exp.Distinct(expressions=[day]))
    sub = exp.select(measure).from_(exp.to_table(source).as_("b")).where(exp.and_(*filters))
    amount = exp.func("coalesce", exp.Subquery(this=sub), exp.Literal.number(0))
    if cond.op == "between":
        assert isinstance(cond.value, list)
        return exp.Between(this=amount, low=_number(cond.value[0]), high=_number(cond.value[1]))
    assert not isinstance(cond.value, list)
    return COMPARISONS[cond.op](this=amount, expression=_number(cond.value))


def _member(table: str, key: str, name: str, profile: str) -> exp.Expr:
    members = (
        exp.select("uid")
        .from_(table)
        .where(exp.EQ(this=exp.column(key), expression=exp.convert(name)))
    )
    return exp.In(this=exp.column("uid", table=profile), query=exp.Subquery(this=members))


def rule_condition(rule: Rule, ctx: RuleSQL) -> exp.Expr:
    """The WHERE condition selecting ``rule``'s users from the profile."""
    if isinstance(rule, TagCondition):
        return exp.paren(_tag(rule, ctx.tag_types[rule.tag], ctx), copy=False)
    if isinstance(rule, Comparison):
        plain = rule.as_condition()  # a tag against values, given as a comparison (JSON)
        if plain is not None:
            return exp.paren(_tag(plain, ctx.tag_types[plain.tag], ctx), copy=False)
        return exp.paren(_comparison(rule, ctx), copy=False)
    if isinstance(rule, BehaviourCondition):
        return exp.paren(_behaviour(rule, ctx), copy=False)
    if isinstance(rule, SegmentRef):
        return _member(SEGMENT_MEMBERS, "segment", rule.name, ctx.profile)
    if isinstance(rule, IdListRef):
        return _member(ID_LIST_MEMBERS, "list", rule.name, ctx.profile)
    if isinstance(rule, CampaignRef):
        members = (
            exp.select("uid")
            .from_(CAMPAIGN_MEMBERS)
            .where(
                exp.and_(
                    exp.EQ(this=exp.column("campaign"), expression=exp.convert(rule.name)),
                    exp.EQ(this=exp.column("outcome"), expression=exp.convert(rule.outcome)),
                )
            )
        )
        return exp.In(this=exp.column("uid", table=ctx.profile), query=exp.Subquery(this=members))
    if isinstance(rule, Not):
        return exp.not_(exp.paren(rule_condition(rule.item, ctx), copy=False))
    if isinstance(rule, And):
        return exp.and_(*[rule_condition(i, ctx) for i in rule.items])
    if isinstance(rule, Or):
        return exp.paren(exp.or_(*[rule_condition(i, ctx) for i in rule.items]), copy=False)
    raise InputError(f"unknown rule node {rule!r}")


def rule_query(rule: Rule, ctx: RuleSQL) -> exp.Select:
    """``SELECT uid FROM profile WHERE <rule> ORDER BY uid``."""
    return (
        exp.select(exp.column("uid", table=ctx.profile))
        .from_(ctx.profile)
        .where(rule_condition(rule, ctx))
        .order_by(exp.column("uid", table=ctx.profile))
    )
