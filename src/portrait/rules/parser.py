"""Rule text → rule model (lark LALR parser over ``grammar.lark``)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from importlib import resources
from typing import Any, cast

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError
from pydantic import ValidationError

from portrait.errors import RuleSyntaxError
from portrait.model.expressions import (
    MAX_OFFSET_DAYS,
    UNIT_DAYS,
    Arithmetic,
    AsOf,
    Duration,
    Expression,
    Size,
    TagRef,
    Unit,
)
from portrait.model.rules import (
    CAMPAIGN_OUTCOMES,
    And,
    BehaviourCondition,
    CampaignOutcome,
    CampaignRef,
    CompareOp,
    Comparison,
    IdListRef,
    Leaf,
    Not,
    Or,
    Rule,
    SegmentRef,
    TagCondition,
    Window,
    is_value,
)

WINDOW_TEXT = re.compile(r"^(\d+)([dw])$")

MAX_RULE_LENGTH = 20_000
"""Rule text is at most this many characters, wherever it comes from (CLI, Python, HTTP API):
longer selections are saved as segments and referred to, or uploaded as ID lists."""

MAX_WINDOW_DAYS = 36_525
"""A ``last=`` window is at most this many days (100 years): longer ones would reach before
the first representable date and cannot be meant."""

SHOWN_CHARACTERS = 200
"""Errors quote at most this much of a rule (a rule may be 20,000 characters long)."""
_TOKEN_WORDS = {
    "STRING": 'a "string"',
    "SIGNED_NUMBER": "a number",
    "TRUE": "true",
    "FALSE": "false",
    "NAME": "a tag name",
    "COMPARE": "a comparison (=, !=, <, <=, >, >=)",
    "ADD": "+ or -",
    "MUL": "* or /",
    "DURATION": "a number of days or weeks (30d, 2w)",
    "AS_OF": "as_of",
    "_SIZE": "size(...)",
    "_EMPTY": "empty",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "EQUAL": "=",
    "MEASURE": "events(...)/active_days(...)/sum(...)",
    "_AND": "and",
    "_OR": "or",
    "_NOT": "not",
    "_IN": "in",
    "_IS": "is",
    "_NULL": "null",
    "_BETWEEN": "between",
    "_CONTAINS": "contains",
    "_ANY": "any",
    "_ALL": "all",
    "_SEGMENT": "segment(...)",
    "_IDS": "ids(...)",
    "_CAMPAIGN": "campaign(...)",
    "$END": "the end of the rule",
}


@functools.cache
def _parser() -> Lark:
    grammar = resources.files("portrait.rules").joinpath("grammar.lark").read_text("utf-8")
    # cache=True keeps the built LALR tables in the temp folder (keyed by the grammar's hash):
    # building them takes ~0.1 s, loading them a few ms.
    return Lark(
        grammar, parser="lalr", maybe_placeholders=False, propagate_positions=True, cache=True
    )


def clip(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` as an error quotes it: at most ``limit`` characters, cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def window_problem(days: int, written: str) -> str | None:
    """Why a window of ``days`` days (written ``written``) is refused, or None if it is fine."""
    if days < 1:
        return f"the window {clip(written, 40)} is empty; windows are at least 1 day"
    if days <= MAX_WINDOW_DAYS:
        return None
    return (
        f"the window {clip(written, 40)} is {days:,} days long; windows are at most "
        f"{MAX_WINDOW_DAYS:,} days (100 years)"
    )


_ESCAPES = '\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX'


def _string(token: Token, text: str) -> str:
    """A string literal's value (JSON string syntax); a bad escape is a syntax error at it."""
    literal = str(token)
    try:
        value: str = json.loads(literal)
    except json.JSONDecodeError as exc:
        at = exc.pos
        if exc.msg.startswith("Invalid \\uXXXX"):  # json points after the backslash
            at = literal.rfind("\\", 0, at + 1)
        offset = (token.start_pos or 0) + at
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        if exc.msg.startswith("Invalid \\"):
            escape = literal[at : at + (6 if literal[at + 1 : at + 2] == "u" else 2)]
            message = f"bad escape {escape.rstrip(chr(34))} in a string"
            hint = f"the escapes are {_ESCAPES}; write \\\\ for a backslash itself"
        elif exc.msg.startswith("Invalid control character"):
            message = f"a string holds the control character {literal[exc.pos]!r}"
            hint = "write it as an escape: \\n for a new line, \\t for a tab"
        else:
            message = f"bad string: {exc.msg}"
            hint = f"the escapes are {_ESCAPES}"
        raise RuleSyntaxError(
            message,
            line=line,
            column=column,
            context=_context(text, line, column),
            hint=hint,
        ) from None
    return value


def _window(named: dict[str, Any], where: str) -> Window:
    if "last" in named:
        last = named.pop("last")
        if isinstance(last, str):
            match = WINDOW_TEXT.match(last)
            if not match:
                raise ValueError(
                    f'{where}: last={clip(repr(last), 40)}: write a number of days such as "7d"'
                )
            days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
            written = f'last="{last}"'
        elif isinstance(last, int) and not isinstance(last, bool):
            days, written = last, f"last={last}"
        else:
            raise ValueError(f'{where}: last= takes a number of days such as "7d"')
        problem = window_problem(days, written)
        if problem:
            raise ValueError(f"{where}: {problem}")
        return Window(last=days)
    if "start" in named or "end" in named:
        try:
            start, end = _day(named.pop("start")), _day(named.pop("end"))
        except (KeyError, ValueError):
            raise ValueError(
                f'{where}: give both start= and end= as dates like "2026-10-01" or as_of - 30d'
            ) from None
        return Window(start=start, end=end)
    raise ValueError(f'{where}: needs a window: last="30d", or start= and end= dates')


def _day(value: object) -> dt.date | AsOf:
    return value if isinstance(value, AsOf) else dt.date.fromisoformat(str(value))


class _Problem(ValueError):
    """A malformed condition: the message, and a hint the syntax error carries."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def comparison(left: Expression, op: CompareOp, right: Expression | list[Expression]) -> Leaf:
    """The leaf for ``left op right``: a :class:`TagCondition` when a tag meets values (on
    either side), otherwise a :class:`Comparison` of expressions."""
    bounds = right if isinstance(right, list) else [right]
    if all(is_value(side) or isinstance(side, Duration) for side in [left, *bounds]):
        raise _Problem(
            "this comparison names no tag",
            hint="compare a tag with a value or with another tag: spend_365d > 300",
        )
    compared = Comparison(left=left, op=op, right=right)
    return compared.as_condition() or compared


def _duration(token: Token, text: str) -> tuple[int, Unit]:
    """A duration's amount and unit; one over 100 years is a syntax error at it."""
    written = str(token).lower()
    amount, unit = int(written[:-1]), cast(Unit, written[-1])
    days = amount * UNIT_DAYS[unit]
    if days > MAX_OFFSET_DAYS:
        line, column = token.line or 1, token.column or 1
        raise RuleSyntaxError(
            f"{clip(str(token), 40)} is {days:,} days; durations and as_of offsets are at most "
            f"{MAX_OFFSET_DAYS:,} days (100 years)",
            line=line,
            column=column,
            context=_context(text, line, column),
            hint="e.g. as_of - 90d, registered_at + 2w",
        )
    return amount, unit


@v_args(inline=True)
class _ToModel(Transformer[Token, Rule]):
    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def number(self, token: Token) -> int | float:
        text = str(token)
        return float(text) if any(c in text for c in ".eE") else int(text)

    def STRING(self, token: Token) -> str:
        return _string(token, self._text)

    def TRUE(self, _: Token) -> bool:
        return True

    def FALSE(self, _: Token) -> bool:
        return False

    def values(self, *items: Any) -> list[Any]:
        return [*items]

    def or_expr(self, *items: Rule) -> Or:
        return Or(items=list(items))

    def and_expr(self, *items: Rule) -> And:
        return And(items=list(items))

    def negation(self, item: Rule) -> Not:
        return Not(item=item)

    def in_(self, name: Token, values: list[Any]) -> TagCondition:
        return TagCondition(tag=str(name), op="in", value=values)

    def not_in(self, name: Token, values: list[Any]) -> TagCondition:
        return TagCondition(tag=str(name), op="not in", value=values)

    def between(self, left: Expression, low: Expression, high: Expression) -> Leaf:
        return comparison(left, "between", [low, high])

    def is_null(self, name: Token) -> TagCondition:
        return TagCondition(tag=str(name), op="is null")

    def is_not_null(self, name: Token) -> TagCondition:
        return TagCondition(tag=str(name), op="is not null")

    def contains_any(self, name: Token, values: list[Any]) -> TagCondition:
        return TagCondition(tag=str(name), op="contains any", value=values)

    def contains_all(self, name: Token, values: list[Any]) -> TagCondition:
        return TagCondition(tag=str(name), op="contains all", value=values)

    def is_empty(self, name: Token) -> TagCondition:
        return TagCondition(tag=str(name), op="is empty")

    def is_not_empty(self, name: Token) -> TagCondition:
        return TagCondition(tag=str(name), op="is not empty")

    def compare(self, left: Expression, op: Token, right: Expression) -> Leaf:
        return comparison(left, cast(CompareOp, str(op)), right)

    # -- expressions ---------------------------------------------------------------------
    def tag_ref(self, name: Token) -> TagRef:
        return TagRef(tag=str(name))

    def size(self, name: Token) -> Size:
        return Size(tag=str(name))

    def duration(self, token: Token) -> Duration:
        amount, unit = _duration(token, self._text)
        return Duration(amount=amount, unit=unit)

    def as_of(self, _: Token) -> AsOf:
        return AsOf()

    def as_of_moved(self, _: Token, op: Token, token: Token) -> AsOf:
        amount, unit = _duration(token, self._text)
        return AsOf(offset=-amount if str(op) == "-" else amount, unit=unit)

    def arithmetic(self, left: Expression, op: Token, right: Expression) -> Expression:
        sign = str(op)
        moves_as_of = isinstance(left, AsOf) and left.offset == 0 and sign in "+-"
        if moves_as_of and isinstance(right, Duration):  # as_of ± 30d: one value, as written
            return AsOf(offset=-right.amount if sign == "-" else right.amount, unit=right.unit)
        return Arithmetic(op=cast(Any, sign), left=left, right=right)

    def segment(self, name: str) -> SegmentRef:
        return SegmentRef(name=name)

    def ids(self, name: str) -> IdListRef:
        return IdListRef(name=name)

    def campaign(self, name: str, outcome: str) -> CampaignRef:
        if outcome not in CAMPAIGN_OUTCOMES:
            raise ValueError(
                f'campaign("{clip(name, 60)}", "{clip(outcome, 40)}"): the outcome is one of '
                + ", ".join(CAMPAIGN_OUTCOMES)
            )
        return CampaignRef(name=name, outcome=cast(CampaignOutcome, outcome))

    def positional(self, value: str) -> tuple[None, str]:
        return (None, value)

    def named(self, name: Token, value: Any) -> tuple[str, Any]:
        return (str(name), value)

    def call(self, measure: Token, *args: tuple[str | None, Any]) -> dict[str, Any]:
        kind = str(measure).lower()
        positional = [v for k, v in args if k is None]
        named: dict[str, Any] = {}
        for k, v in args:
            if k is not None:
                if k in named:
                    raise ValueError(f"{kind}(): {k}= is given twice")
                named[k] = v
        if len(positional) > 1:
            raise ValueError(f"{kind}(): only the event name goes without a name=")
        measure_name = {"events": "count", "active_days": "active_days", "sum": "sum"}[kind]
        event = positional[0] if positional else named.pop("event", None)
        window = _window(named, f"{kind}()")
        return {
            "measure": measure_name,
            "event": event,
            "business_line": named.pop("line", None),
            "of": named.pop("of", None),
            "window": window,
            "where": named,
        }

    def behaviour(self, call: dict[str, Any], op: Token, value: float) -> BehaviourCondition:
        return BehaviourCondition(**call, op=cast(CompareOp, str(op)), value=float(value))

    def behaviour_between(
        self, call: dict[str, Any], low: float, high: float
    ) -> BehaviourCondition:
        return BehaviourCondition(**call, op="between", value=[float(low), float(high)])


def parse_rule(text: str) -> Rule:
    """Parse rule text into the model; errors point at line and column with a caret.

    Text longer than :data:`MAX_RULE_LENGTH` characters is refused before it is parsed.
    Rules are immutable, so the results of recent texts are kept and shared.
    """
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(
            f"the rule is {len(text):,} characters long; rules are at most "
            f"{MAX_RULE_LENGTH:,} characters",
            hint='save parts of it as segments and refer to them with segment("name"), or '
            "upload a long list of users as an ID list (portrait ids upload)",
        )
    return _parse_cached(text)


def _cells(text: str) -> int:
    """Terminal cells ``text`` takes (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _context(text: str, line: int, column: int) -> str:
    """The offending line and a caret under the column, padded by display width. A long line
    is cut to about :data:`SHOWN_CHARACTERS` characters around the column, with ellipses."""
    lines = text.splitlines() or [""]
    source = lines[min(max(line, 1), len(lines)) - 1]
    before, after = source[: column - 1], source[column - 1 :]
    if len(source) > SHOWN_CHARACTERS:
        half = SHOWN_CHARACTERS // 2
        if len(before) > half:
            before = "…" + before[-(half - 1) :]
        if len(after) > SHOWN_CHARACTERS - len(before):
            after = after[: SHOWN_CHARACTERS - len(before) - 1] + "…"
    return f"{before}{after}\n{' ' * _cells(before)}^"


MAX_DEPTH = 64
"""Rules nest at most this deep (``not``, ``and``/``or`` groups): deeper ones are refused
before anything recursive (printing, validation, evaluation, SQL) can run out of stack."""


def _depth(rule: Rule) -> int:
    """How deep the rule nests (a leaf is 1), walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(rule, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = getattr(node, "items", None) or ([node.item] if hasattr(node, "item") else [])
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep() -> RuleSyntaxError:
    return RuleSyntaxError(
        f"the rule nests deeper than {MAX_DEPTH} levels",
        hint="write it flatter: a and b and c needs no brackets",
    )


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str) -> Rule:
    if not text.strip():
        raise RuleSyntaxError("the rule is empty", hint='e.g. city = "北京" and age >= 25')
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or []
        words = sorted({_TOKEN_WORDS.get(t, t) for t in expected})
        hint = ("expected " + " or ".join(words[:10])) if words else None
        raise RuleSyntaxError(
            "cannot parse the rule",
            line=exc.line,
            column=exc.column,
            context=_context(text, exc.line, exc.column),
            hint=hint,
        ) from None
    try:
        rule: Rule = _ToModel(text).transform(tree)
    except RecursionError:  # hundreds of levels: refused like any rule too deep
        raise _too_deep() from None
    except VisitError as exc:
        original = exc.orig_exc
        if isinstance(original, RuleSyntaxError):
            raise original from None
        meta = getattr(exc.obj, "meta", None)
        line = getattr(meta, "line", None)
        column = getattr(meta, "column", None)
        if isinstance(original, ValidationError):
            message = original.errors()[0]["msg"].removeprefix("Value error, ")
        else:
            message = str(original)
        raise RuleSyntaxError(
            message,
            line=line,
            column=column,
            context=_context(text, line, column) if line is not None and column else None,
            hint=getattr(original, "hint", None),
        ) from None
    if _depth(rule) > MAX_DEPTH:
        raise _too_deep()
    return rule


_CONDITIONS = frozenset(
    {
        "in_",
        "not_in",
        "between",
        "is_null",
        "is_not_null",
        "is_empty",
        "is_not_empty",
        "contains_any",
        "contains_all",
        "compare",
        "behaviour",
        "behaviour_between",
        "segment",
        "ids",
        "campaign",
    }
)


def locate(text: str, leaf: Leaf) -> tuple[int, int] | None:
    """Line and column of the first condition in ``text`` that parses to ``leaf`` (for
    errors found after parsing, such as a type that does not fit the catalog)."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput:
        return None
    transformer = _ToModel(text)
    for sub in tree.iter_subtrees_topdown():  # type: ignore[no-untyped-call]
        if str(sub.data) not in _CONDITIONS:
            continue
        try:
            node = transformer.transform(sub)
        except (VisitError, ValueError, RuleSyntaxError):
            continue
        if node == leaf:
            return sub.meta.line, sub.meta.column
    return None


def context(text: str, line: int, column: int) -> str:
    """The line of ``text`` with a caret under ``column`` (as syntax errors show it)."""
    return _context(text, line, column)
