"""``where:`` filters of metric and preference tags → SQLGlot predicates (values as literals)."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from portrait.errors import TagDefinitionError

#: comparison operators → SQLGlot node, shared by tag filters and rules
COMPARISONS: dict[str, type[exp.Binary]] = {
    "=": exp.EQ,
    "!=": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}


def literal(value: Any) -> exp.Expr:
    """A Python scalar as a SQL literal (strings quoted and escaped by SQLGlot)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return exp.convert(value)
    raise TypeError(f"not a scalar: {value!r}")


def _one(column: str, op: str, value: Any, tag: str) -> exp.Expr:
    col = exp.column(column)
    where = f"tag '{tag}', field 'where.{column}'"
    if op in COMPARISONS:
        if isinstance(value, list):
            raise TagDefinitionError(f"'{op}' takes one value, not a list", where=where)
        return COMPARISONS[op](this=col, expression=literal(value))
    if op in ("in", "not_in"):
        values = value if isinstance(value, list) else [value]
        if not values:
            raise TagDefinitionError(f"'{op}' needs at least one value", where=where)
        cond: exp.Expr = col.isin(*[literal(v) for v in values])
        return exp.not_(cond) if op == "not_in" else cond
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise TagDefinitionError(
                "'between' takes a list of two values [low, high]", where=where
            )
        return exp.Between(this=col, low=literal(value[0]), high=literal(value[1]))
    if op == "is_null":
        is_null = exp.Is(this=col, expression=exp.Null())
        return is_null if value in (True, None) else exp.not_(is_null)
    if op == "contains":
        values = value if isinstance(value, list) else [value]
        return exp.or_(
            *[exp.func("list_contains", col, literal(v)) for v in values]  # any of the values
        )
    raise TagDefinitionError(f"unknown operator '{op}'", where=where)


def where_predicate(where: dict[str, Any], tag: str) -> exp.Expr | None:
    """All conditions of a ``where:`` mapping, joined with AND; ``None`` when empty."""
    parts: list[exp.Expr] = []
    for column, condition in where.items():
        if isinstance(condition, dict):
            parts.extend(_one(column, op, value, tag) for op, value in condition.items())
        elif isinstance(condition, list):
            parts.append(_one(column, "in", condition, tag))
        else:
            parts.append(_one(column, "=", condition, tag))
    if not parts:
        return None
    return exp.and_(*parts) if len(parts) > 1 else parts[0]
