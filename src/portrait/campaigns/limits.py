"""What one message may cost: the sandbox that renders campaign templates, with limits.

Jinja's sandbox keeps a template away from Python internals, files and the network, but not
from spending: ``{% for i in range(100000) %}`` nested twice, ``{{ "x" * 10**9 }}`` or
``{{ 9 ** 9 ** 9 }}`` would hold a send (or, folded as constants, the campaign's creation)
for minutes and gigabytes. :class:`LimitedEnvironment` bounds every message:

- ``range()`` gives at most ``Limits.range_items`` items;
- all ``{% for %}`` loops of one message (recursive ones too) take at most
  ``Limits.iterations`` steps between them;
- the message (text or subject) is at most ``Limits.output_chars`` characters, counted while
  it is produced, and so is every value a template makes on the way (a filter's or method's
  result, ``~``, ``+``, ``*``, ``%``, a ``namespace`` attribute); whatever would allocate a
  larger one (``"x" * n``, a width of ``center(n)`` or ``"%{n}s"``, ``replace``) is refused
  before it allocates; numbers stay under ``Limits.int_bits`` bits; and all the values made
  for one message add up to at most ``Limits.made_chars`` (so loops cannot pile up memory);
- lists, dicts and sets cannot be changed in place (Jinja's immutable sandbox: ``append``
  would add to a list out of sight of these checks); ``namespace()`` is there for that;
- rendering one message takes at most ``Limits.seconds``: the clock is read at every loop
  step, every call, filter and operator the sandbox intercepts.

A message over a limit raises :class:`TemplateLimitError`, naming the variant, the part and
the limit. One C-level operation cannot be interrupted, which is why sizes are checked
before allocating rather than after.

Longer than ~400 lines on purpose: the environment and the size checks it calls at every
operator, filter and method are one mechanism, and a limit is easiest to audit next to the
operations that could get around it.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import nodes
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from portrait.errors import TemplateLimitError


@dataclass(frozen=True)
class Limits:
    """The most one message may cost (see the module docstring)."""

    range_items: int = 1_000
    iterations: int = 10_000
    output_chars: int = 64 * 1024
    seconds: float = 1.0
    int_bits: int = 4096
    made_chars: int = 16 * 1024 * 1024


class Budget:
    """What one message has spent so far; set for the duration of its rendering."""

    def __init__(self, limits: Limits, where: str):
        self.limits = limits
        self.where = where
        self.started = time.perf_counter()
        self.iterations = 0
        self.made = 0  # characters (or items) of the values made so far

    def step(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.iterations:
            raise TemplateLimitError(
                f"more than {self.limits.iterations:,} loop iterations in one message (the limit)",
                where=self.where,
            )
        self.tick()

    def make(self, size: int, what: str) -> None:
        self.made += size
        if self.made > self.limits.made_chars:
            raise TemplateLimitError(
                f"{what}: the values made for one message add up to more than "
                f"{self.limits.made_chars:,} characters (the limit)",
                where=self.where,
            )

    def tick(self) -> None:
        if time.perf_counter() - self.started > self.limits.seconds:
            raise TemplateLimitError(
                f"rendering one message took longer than {self.limits.seconds:g} s (the limit)",
                where=self.where,
                kind="time",
            )


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "portrait_template_budget", default=None
)


def _where() -> str | None:
    budget = _BUDGET.get()
    return budget.where if budget else None


def _refuse(message: str) -> TemplateLimitError:
    return TemplateLimitError(message, where=_where())


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def render_within(template: Any, context: Mapping[str, Any], budget: Budget) -> str:
    """Render ``template`` under ``budget``, counting the output as it is produced."""
    limit = budget.limits.output_chars
    token = _BUDGET.set(budget)
    parts: list[str] = []
    size = 0
    try:
        # what Template.render does, with the pieces counted as they come
        for part in template.root_render_func(template.new_context(context)):
            size += len(part)
            if size > limit:
                raise TemplateLimitError(
                    f"the message is longer than {limit:,} characters (the limit)",
                    where=budget.where,
                )
            parts.append(part)
    except Exception:
        template.environment.handle_exception()  # re-raises, traceback in template lines
    finally:
        _BUDGET.reset(token)
    return "".join(parts)


# -- sizes -------------------------------------------------------------------------------------
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)
# a width or precision in %-formatting, or in a str.format field's spec
_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_FIELD = re.compile(r"\{[^{}]*?:([^{}]*)\}|\{[^{}]*?:[^{}]*\{")
_DIGITS = re.compile(r"\d+")
#: the most ``tojson`` may indent by (its output grows with indent × depth × items)
TOJSON_INDENT = 8


class _Sizes:
    """Size checks bound to one environment's limits."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def value(self, result: Any, what: str) -> Any:
        """``result`` if it is within the limits, else the error."""
        if isinstance(result, _SIZED):
            if len(result) > self.limits.output_chars:
                raise _refuse(
                    f"{what} made a value of {len(result):,} {_unit(result)}; at most "
                    f"{self.limits.output_chars:,} (the limit)"
                )
            budget = _BUDGET.get()
            if budget is not None:
                budget.make(len(result), what)
        elif _is_int(result) and result.bit_length() > self.limits.int_bits:
            raise _refuse(
                f"{what} made a number of more than {self.limits.int_bits:,} bits (the limit)"
            )
        return result

    def expected(self, size: int | None, what: str, unit: str = "characters") -> None:
        """Refuse before making a value of ``size`` characters (or items)."""
        if size is not None and size > self.limits.output_chars:
            raise _refuse(
                f"{what} would make a value of {size:,} {unit}; at most "
                f"{self.limits.output_chars:,} (the limit)"
            )

    def width(self, value: Any, what: str) -> None:
        if _is_int(value):
            self.expected(abs(value), f"a width of {value:,} in {what}")

    def format_string(self, text: str, what: str) -> None:
        """Widths and precisions written in a %- or {}-format string."""
        for match in _PERCENT_WIDTH.finditer(text):
            for number in match.groups():
                if number == "*":
                    raise _refuse(f"{what}: a width taken from the arguments ('*') is refused")
                if number:
                    self.width(int(number), what)
        for match in _FORMAT_FIELD.finditer(text):
            spec = match.group(1)
            if spec is None:
                raise _refuse(f"{what}: a nested format spec ({{:{{}}}}) is refused")
            for number in _DIGITS.findall(spec):
                self.width(int(number), what)

    def product(self, left: Any, right: Any, what: str) -> None:
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, _SIZED) and _is_int(n):
                self.expected(len(seq) * max(n, 0), what, _unit(seq))
        if _is_int(left) and _is_int(right):
            self.bits(left.bit_length() + right.bit_length(), what)

    def power(self, base: Any, exponent: Any, what: str) -> None:
        if _is_int(base) and _is_int(exponent) and abs(base) > 1 and exponent > 0:
            self.bits(base.bit_length() * exponent, what)

    def bits(self, bits: int, what: str) -> None:
        if bits > self.limits.int_bits:
            raise _refuse(
                f"{what} would make a number of more than {self.limits.int_bits:,} bits (the limit)"
            )

    # -- what a filter or a text method would make, from its arguments ----------------------
    def filter(self, name: str, a: Mapping[str, Any], what: str) -> None:
        """``a``: the filter's arguments by parameter name, defaults applied."""
        if name == "center":
            self.width(a["width"], what)
        elif name == "indent":
            width = a["width"] if _is_int(a["width"]) else len(str(a["width"]))
            self.width(width, what)
            self.expected(len(str(a["s"])) + _lines(a["s"]) * abs(width), what)
        elif name == "batch":
            self.width(a["linecount"], what)
        elif name == "join":
            self.expected(_joined(a["d"], a["value"]), what)
        elif name == "wordwrap":
            text, step = str(a["s"]), a["width"] if _is_int(a["width"]) else 1
            pieces = len(text) // max(step, 1) + _lines(text)
            self.expected(len(text) + pieces * len(a["wrapstring"] or "\n"), what)
        elif name == "sum" and isinstance(a["start"], _SIZED) and a["attribute"] is None:
            items = a["iterable"]
            if isinstance(items, list | tuple):
                size = len(a["start"]) + sum(len(i) for i in items if isinstance(i, _SIZED))
                self.expected(size, what, _unit(a["start"]))
        elif name == "tojson" and a["indent"] is not None:
            indent = a["indent"] if _is_int(a["indent"]) else len(str(a["indent"]))
            if indent > TOJSON_INDENT:
                raise _refuse(f"an indent of {indent:,} in {what}; at most {TOJSON_INDENT}")
        elif name == "replace":
            self.replaced(a["s"], a["old"], a["new"], a["count"], what)
        elif name == "format" and isinstance(a["value"], str):
            self.format_string(a["value"], what)

    def method(self, owner: str | bytes, name: str, args: tuple[Any, ...], what: str) -> None:
        """A method of a text (``"x".center(n)``), before it is called (positional
        arguments; these methods take no others but ``expandtabs``' and ``replace``')."""
        first = args[0] if args else None
        if name in ("center", "ljust", "rjust", "zfill"):
            self.width(first, what)
        elif name == "expandtabs" and isinstance(first, int):
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            self.width(first, what)
            self.expected(len(owner) + tabs * first, what)
        elif name == "replace" and len(args) >= 2:
            self.replaced(owner, args[0], args[1], args[2] if len(args) > 2 else -1, what)
        elif name == "join":
            self.expected(_joined(owner, first), what)
        elif name == "translate" and isinstance(first, dict):
            longest = max((len(v) for v in first.values() if isinstance(v, _SIZED)), default=1)
            self.expected(len(owner) * longest, what)

    def replaced(self, text: Any, old: Any, new: Any, count: Any, what: str) -> None:
        if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
            return
        found = text.count(old) if old else len(text) + 1
        if _is_int(count) and count >= 0:
            found = min(found, count)
        self.expected(len(text) + found * (len(new) - len(old)), what)


def _lines(text: Any) -> int:
    return str(text).count("\n") + 1


def _joined(separator: Any, items: Any) -> int | None:
    """At least how long ``separator.join(items)`` is, when that can be told up front."""
    if isinstance(separator, _SIZED) and isinstance(items, Sized):
        return len(separator) * max(len(items) - 1, 0)
    return None


def _unit(value: Any) -> str:
    return "characters" if isinstance(value, str | bytes) else "items"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Counted:
    """An iterable whose every step is counted against the message's budget."""

    def __init__(self, iterable: Iterable[Any]):
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        budget = _BUDGET.get()
        for item in self.iterable:
            if budget is not None:
                budget.step()
            yield item

    def __len__(self) -> int:  # loop.length without walking the loop twice
        return len(self.iterable)  # type: ignore[arg-type]


class _Metered(NodeTransformer):
    """Routes every ``{% for %}`` through the step counter and every ``~`` through the size
    check (plain Python operations the sandbox does not intercept)."""

    def __init__(self, environment: LimitedEnvironment):
        self.environment = environment

    def _call(self, name: str, args: list[nodes.Expr], like: nodes.Node) -> nodes.Call:
        call = nodes.Call(nodes.Name(name, "load"), args, [], None, None)
        call.set_lineno(like.lineno)
        call.set_environment(self.environment)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call(_LOOP, [cast(nodes.Expr, node.iter)], node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call(_CONCAT, list(node.nodes), node)


_LOOP = "_portrait_loop"
_CONCAT = "_portrait_concat"
# filters whose result can be much larger than their value (checked from their arguments)
_ESTIMATED_FILTERS = frozenset(
    {"center", "indent", "batch", "join", "wordwrap", "sum", "tojson", "replace", "format"}
)


class _LimitedNamespace(Namespace):
    """``namespace()`` whose attributes obey the size limits (``{% set ns.s = ns.s ~ ns.s %}``
    in a loop would otherwise double a text each step)."""

    sizes: _Sizes

    def __setitem__(self, name: str, value: Any) -> None:
        # type(self): a namespace answers every attribute from what it holds
        super().__setitem__(name, type(self).sizes.value(value, "a namespace attribute"))


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the limits of :class:`Limits` (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, limits: Limits | None = None, **options: Any):
        super().__init__(**options)
        self.limits = limits or Limits()
        self.sizes = _Sizes(self.limits)
        namespace = type("namespace", (_LimitedNamespace,), {"sizes": self.sizes})
        self.globals.update(
            {
                "range": self._range,
                "namespace": namespace,
                _LOOP: _Counted,
                _CONCAT: self._concat,
            }
        )
        self.filters = {name: self._guard(name, f) for name, f in self.filters.items()}

    def metered(self, tree: nodes.Template) -> nodes.Template:
        """The parsed template with its loops counted and its ``~`` checked; compile this."""
        result = _Metered(self).visit(tree)
        assert isinstance(result, nodes.Template)
        return result

    def _range(self, *args: int) -> range:
        items = range(*args)
        if len(items) > self.limits.range_items:
            raise _refuse(
                f"range() of {len(items):,} items; a message may loop over at most "
                f"{self.limits.range_items:,} (the limit)"
            )
        return items

    def _concat(self, *values: Any) -> str:
        texts = [str(v) for v in values]
        self.sizes.expected(sum(map(len, texts)), "'~'")
        return "".join(texts)

    def _guard(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        sizes = self.sizes
        what = f"the filter '{name}'"
        signature = inspect.signature(function) if name in _ESTIMATED_FILTERS else None

        @functools.wraps(function)  # keeps the pass_context-style markers
        def guarded(*args: Any, **kwargs: Any) -> Any:
            _tick()
            if signature is not None:
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError:
                    pass  # the filter itself says what is wrong with its arguments
                else:
                    bound.apply_defaults()
                    sizes.filter(name, bound.arguments, what)
            return sizes.value(function(*args, **kwargs), what)

        return guarded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        what = f"'{operator}'"
        if operator == "*":
            self.sizes.product(left, right, what)
        elif operator == "**":
            self.sizes.power(left, right, what)
        elif operator == "%" and isinstance(left, str):
            self.sizes.format_string(left, what)
        elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            self.sizes.expected(len(left) + len(right), what, _unit(left))
        return self.sizes.value(super().call_binop(context, operator, left, right), what)

    # Jinja's own signature: the double prefixes let any keyword through to the callee
    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is _Counted:  # a {% for %}: counted at each step instead
            return _Counted(*args)
        _tick()
        method = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes):
            if kwargs:  # expandtabs(tabsize=...), replace(count=...) as the positional ones
                args = (*args, *kwargs.values())
                kwargs = {}
            __self.sizes.method(owner, method, args, f"'{method}()'")
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (_Counted(args[0]), *args[1:])
        result = SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        return __self.sizes.value(result, f"'{method}()'" if method else "a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__
        sizes = self.sizes

        def checked(*args: Any, **kwargs: Any) -> str:
            sizes.format_string(text, f"'{value.__name__}()'")
            return str(sizes.value(wrapped(*args, **kwargs), f"'{value.__name__}()'"))

        return checked
