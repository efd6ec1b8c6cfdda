"""Rule → SQLGlot condition over the profile table (the path for other engines, and the
independent oracle the bitmap evaluation is tested against). SQL's own three-valued logic
gives the semantics documented in :mod:`portrait.audience.evaluate`."""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from portrait.compile.conditions import COMPARISONS
from portrait.errors import InputError
from portrait.model.rules import And, Not, Or, Rule, TagCondition
from portrait.model.schema import Scalar


def _literal(value: Scalar, value_type: str) -> exp.Expr:
    if value_type in ("date", "timestamp"):
        return exp.cast(
            exp.Literal.string(str(value)), "DATE" if value_type == "date" else "TIMESTAMP"
        )
    return exp.convert(value)


def _tag(cond: TagCondition, value_type: str) -> exp.Expr:
    col = exp.column(cond.tag, quoted=True)
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    lits = [_literal(v, value_type) for v in values if v is not None]
    is_list = value_type == "list<string>"
    empty = exp.EQ(this=exp.func("len", col.copy()), expression=exp.convert(0))
    missing: exp.Expr = exp.Is(this=col.copy(), expression=exp.Null())
    if is_list:  # an empty list counts as missing, as in the index
        missing = exp.or_(missing, empty.copy())
    op = cond.op
    if op == "is null":
        return missing
    if op == "is not null":
        return exp.not_(missing)
    if op in ("contains any", "contains all"):
        fn = "list_has_any" if op == "contains any" else "list_has_all"
        test = exp.func(fn, col.copy(), exp.Array(expressions=lits))
        return exp.Case().when(empty, exp.Null()).else_(test)
    if op == "in":
        return col.isin(*lits)
    if op == "not in":
        return exp.not_(col.isin(*lits))
    if op == "between":
        return exp.Between(this=col, low=lits[0], high=lits[1])
    return COMPARISONS[op](this=col, expression=lits[0])


def rule_condition(rule: Rule, tag_types: Mapping[str, str]) -> exp.Expr:
    """The WHERE condition selecting ``rule``'s users from the profile."""
    if isinstance(rule, TagCondition):
        return exp.paren(_tag(rule, tag_types[rule.tag]), copy=False)
    if isinstance(rule, Not):
        return exp.not_(exp.paren(rule_condition(rule.item, tag_types), copy=False))
    if isinstance(rule, And):
        return exp.and_(*[rule_condition(i, tag_types) for i in rule.items])
    if isinstance(rule, Or):
        return exp.paren(exp.or_(*[rule_condition(i, tag_types) for i in rule.items]), copy=False)
    raise InputError(f"{rule.kind} conditions have no SQL form yet")


def rule_query(rule: Rule, tag_types: Mapping[str, str], profile: str = "profile") -> exp.Select:
    """``SELECT uid FROM profile WHERE <rule> ORDER BY uid``."""
    return exp.select("uid").from_(profile).where(rule_condition(rule, tag_types)).order_by("uid")
