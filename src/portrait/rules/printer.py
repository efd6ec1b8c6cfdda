"""Rule model → canonical rule text (``parse_rule(print_rule(r)) == r``)."""

from __future__ import annotations

import json

from portrait.model.expressions import Arithmetic, AsOf, Duration, Expression, Size, TagRef
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
    Window,
)
from portrait.model.schema import Scalar

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def expression_text(expression: Expression, parent: int = 0, right: bool = False) -> str:
    """An expression as written: ``spend_365d / orders_365d``, ``as_of - 90d``. Brackets only
    where the tree needs them (a right operand of the same precedence keeps its own)."""
    if isinstance(expression, TagRef):
        return expression.tag
    if isinstance(expression, Size):
        return f"size({expression.tag})"
    if isinstance(expression, Duration):
        return f"{expression.amount}{expression.unit}"
    if isinstance(expression, AsOf):
        if expression.offset == 0:
            return "as_of"
        sign = "-" if expression.offset < 0 else "+"
        text = f"as_of {sign} {abs(expression.offset)}{expression.unit}"
        return f"({text})" if parent > 1 or (parent == 1 and right) else text
    if isinstance(expression, Arithmetic):
        level = _PRECEDENCE[expression.op]
        text = (
            f"{expression_text(expression.left, level)} {expression.op} "
            f"{expression_text(expression.right, level, right=True)}"
        )
        return f"({text})" if level < parent or (level == parent and right) else text
    return _value(expression)


def _value(value: Scalar | AsOf) -> str:
    if isinstance(value, AsOf):
        return expression_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)  # keeps the ".0" so a float stays a float
    return repr(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _window(window: Window) -> list[str]:
    if window.last is not None:
        return [f'last="{window.last}d"']
    assert window.start is not None
    assert window.end is not None
    return [f"start={_day(window.start)}", f"end={_day(window.end)}"]


def _day(day: object) -> str:
    return expression_text(day) if isinstance(day, AsOf) else f'"{day}"'


def _comparison(cond: Comparison) -> str:
    left = expression_text(cond.left)
    if isinstance(cond.right, list):
        low, high = (expression_text(side) for side in cond.right)
        return f"{left} between {low} and {high}"
    return f"{left} {cond.op} {expression_text(cond.right)}"


def _tag(cond: TagCondition) -> str:
    if cond.op in ("is null", "is not null", "is empty", "is not empty"):
        return f"{cond.tag} {cond.op}"
    if cond.op == "between":
        assert isinstance(cond.value, list)
        return f"{cond.tag} between {_value(cond.value[0])} and {_value(cond.value[1])}"
    if isinstance(cond.value, list):
        return f"{cond.tag} {cond.op} ({', '.join(_value(v) for v in cond.value)})"
    assert cond.value is not None
    return f"{cond.tag} {cond.op} {_value(cond.value)}"


def _behaviour(cond: BehaviourCondition) -> str:
    name = {"count": "events", "active_days": "active_days", "sum": "sum"}[cond.measure]
    args: list[str] = []
    if cond.event is not None:
        args.append(json.dumps(cond.event, ensure_ascii=False))
    if cond.business_line is not None:
        args.append(f"line={json.dumps(cond.business_line, ensure_ascii=False)}")
    if cond.of is not None:
        args.append(f"of={json.dumps(cond.of, ensure_ascii=False)}")
    args += [f"{k}={_value(v)}" for k, v in sorted(cond.where.items())]
    args += _window(cond.window)
    call = f"{name}({', '.join(args)})"
    if cond.op == "between":
        assert isinstance(cond.value, list)
        return f"{call} between {_number(cond.value[0])} and {_number(cond.value[1])}"
    assert not isinstance(cond.value, list)
    return f"{call} {cond.op} {_number(cond.value)}"


def print_rule(rule: Rule) -> str:
    """The canonical text of ``rule``: ``and`` binds tighter than ``or``; groups that would
    otherwise merge with their parent are parenthesised."""
    if isinstance(rule, TagCondition):
        return _tag(rule)
    if isinstance(rule, Comparison):
        return _comparison(rule)
    if isinstance(rule, BehaviourCondition):
        return _behaviour(rule)
    if isinstance(rule, SegmentRef):
        return f"segment({json.dumps(rule.name, ensure_ascii=False)})"
    if isinstance(rule, IdListRef):
        return f"ids({json.dumps(rule.name, ensure_ascii=False)})"
    if isinstance(rule, CampaignRef):
        name = json.dumps(rule.name, ensure_ascii=False)
        return f'campaign({name}, "{rule.outcome}")'
    if isinstance(rule, Not):
        inner = print_rule(rule.item)
        return f"not ({inner})" if isinstance(rule.item, And | Or) else f"not {inner}"
    if isinstance(rule, And):
        return " and ".join(
            f"({print_rule(i)})" if isinstance(i, And | Or) else print_rule(i) for i in rule.items
        )
    assert isinstance(rule, Or)
    return " or ".join(
        f"({print_rule(i)})" if isinstance(i, Or) else print_rule(i) for i in rule.items
    )
