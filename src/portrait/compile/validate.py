"""Resolve tag definitions against the loaded tables and each other.

Checks that every column a tag reads exists with a usable type, parses ``derived`` expressions
with SQLGlot and allows only scalar expressions over known tags, and fills in their
dependencies. Errors name the file, the tag and the field, and suggest near names.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from portrait.compile.virtual import TIME_TABLES, VIRTUAL_TYPES
from portrait.errors import TagDefinitionError, suggest
from portrait.model.schema import NUMERIC_TYPES, Schema
from portrait.model.tags import (
    AnyTag,
    AttributeTag,
    BucketTag,
    DerivedTag,
    MetricTag,
    PreferenceTag,
    RfmTag,
    TagSet,
)

#: Node types a derived expression may not contain: queries, tables, aggregates, windows,
#: unknown (anonymous) functions and parameters.
_FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.Query,
    exp.Subquery,
    exp.Table,
    exp.Star,
    exp.AggFunc,
    exp.Window,
    exp.Anonymous,
    exp.Placeholder,
    exp.Parameter,
    exp.Command,
)


#: Scalar functions a derived expression may call; any other function is rejected (a file reader
#: such as read_csv is a function too).
_ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    name
    for name in (
        "Abs",
        "Round",
        "Ceil",
        "Floor",
        "Sqrt",
        "Ln",
        "Log",
        "Pow",
        "Exp",
        "Sign",
        "Coalesce",
        "If",
        "Case",
        "Nullif",
        "Greatest",
        "Least",
        "Cast",
        "TryCast",
        "Lower",
        "Upper",
        "Length",
        "Concat",
        "ConcatWs",
        "Substring",
        "Trim",
        "Left",
        "Right",
        "Replace",
        "StrPosition",
        "Pad",
        "DateDiff",
        "DateAdd",
        "DateSub",
        "DateTrunc",
        "TimestampTrunc",
        "Extract",
        "Year",
        "Month",
        "Day",
        "DayOfWeek",
        "DayOfWeekIso",
        "ArraySize",
        "ArrayContains",
        "ArrayContainsAll",
        "ArrayOverlaps",
        "Array",
        "Bracket",
        "ArrayToString",
        "ArrayJoin",
        "Div",
        "Mod",
        "SafeDivide",
    )
)


def _err(tags: TagSet, tag: AnyTag, field: str, message: str, hint: str | None = None) -> None:
    raise TagDefinitionError(
        f"tag '{tag.name}', field '{field}': {message}", where=tags.sources.get(tag.name), hint=hint
    )


def parse_derived(tag: DerivedTag, known: Iterable[str], tags: TagSet) -> exp.Expr:
    """Parse ``tag.expr``; reject anything but a scalar expression over known tag names."""
    known_set = set(known)
    try:
        tree = sqlglot.parse_one(tag.expr, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        _err(tags, tag, "expr", f"cannot parse expression: {exc.errors[0]['description']}")
        raise AssertionError("unreachable") from None
    for node in tree.walk():
        if (
            isinstance(node, exp.Func)
            and not isinstance(node, exp.Connector | exp.Binary | exp.Predicate | exp.Unary)
            and type(node).__name__ not in _ALLOWED_FUNCTIONS
        ):
            _err(
                tags,
                tag,
                "expr",
                f"function '{node.name if isinstance(node, exp.Anonymous) else node.sql_name()}' "
                "is not allowed in a derived expression",
                "allowed: arithmetic, comparisons, CASE, COALESCE, and scalar functions such as "
                "round, least, greatest, lower, length, date_diff",
            )
        if isinstance(node, _FORBIDDEN_NODES):
            kind = "function " + node.name if isinstance(node, exp.Anonymous) else node.key
            _err(
                tags,
                tag,
                "expr",
                f"'{kind}' is not allowed in a derived expression",
                "use operators, CASE, COALESCE and built-in scalar functions over tag names",
            )
        if isinstance(node, exp.Column):
            if node.table:
                _err(tags, tag, "expr", f"'{node.sql()}': refer to tags by bare name")
            if node.name not in known_set:
                _err(tags, tag, "expr", f"unknown tag '{node.name}'", suggest(node.name, known_set))
            if node.name == tag.name:
                _err(tags, tag, "expr", "a tag cannot refer to itself")
    return tree


def derived_references(tree: exp.Expr) -> tuple[str, ...]:
    return tuple(sorted({c.name for c in tree.find_all(exp.Column)}))


def _check_column(
    tags: TagSet, tag: AnyTag, table: str, column: str, field: str, schema: Schema
) -> str:
    columns = schema.get(table)
    if columns is None:
        _err(
            tags,
            tag,
            field,
            f"reads table '{table}', but no {table} have been ingested",
            f"load it first: portrait ingest {table} FILE",
        )
        raise AssertionError("unreachable")
    if column not in columns and table in TIME_TABLES and column in VIRTUAL_TYPES:
        return VIRTUAL_TYPES[column]
    if column not in columns:
        _err(
            tags,
            tag,
            field,
            f"table '{table}' has no column '{column}'",
            suggest(column, columns) or "columns: " + ", ".join(sorted(columns)),
        )
    return columns[column]


def validate_tags(tags: TagSet, schema: Schema) -> TagSet:
    """Check every tag against ``schema`` (table → column → value type) and each other.

    Returns a new tag set whose derived tags carry their dependencies. Raises
    :class:`TagDefinitionError` (or :class:`DependencyCycleError`) on the first problem.
    """
    resolved: list[AnyTag] = []
    names = set(tags)
    for tag in tags.values():
        if isinstance(tag, AttributeTag):
            _check_column(tags, tag, "users", tag.source_column, "column", schema)
        elif isinstance(tag, BucketTag):
            if tag.source in names:
                source_type: str = tags[tag.source].value_type
            else:
                source_type = _check_column(tags, tag, "users", tag.source, "source", schema)
            if source_type not in NUMERIC_TYPES - {"date", "timestamp"}:
                _err(tags, tag, "source", f"'{tag.source}' is {source_type}; buckets need a number")
        elif isinstance(tag, MetricTag | PreferenceTag | RfmTag):
            table = tag.from_
            if table not in schema:
                _err(
                    tags,
                    tag,
                    "from",
                    f"reads table '{table}', but no {table} have been ingested",
                    f"load it first: portrait ingest {table} FILE",
                )
            for column in tag.where:
                _check_column(tags, tag, table, column, f"where.{column}", schema)
            if isinstance(tag, MetricTag) and tag.of:
                of_type = _check_column(tags, tag, table, tag.of, "of", schema)
                if tag.agg in ("sum", "avg") and of_type not in ("int", "float"):
                    _err(tags, tag, "of", f"'{tag.of}' is {of_type}; '{tag.agg}' needs a number")
            if isinstance(tag, PreferenceTag):
                _check_column(tags, tag, table, tag.property_name, "property", schema)
            if isinstance(tag, RfmTag):
                _check_column(tags, tag, table, "amount", "from", schema)
        elif isinstance(tag, DerivedTag):
            tree = parse_derived(tag, names, tags)
            tag = tag.model_copy(update={"depends_on": derived_references(tree)})
        resolved.append(tag)
    result = TagSet(resolved, tags.sources)
    return _propagate_pii(result, result.build_order())  # build_order raises on cycles


def _propagate_pii(tags: TagSet, order: list[str]) -> TagSet:
    """A tag computed from personal data is personal data: every tag reading a ``pii`` tag
    (a derived tag's expression, a bucket tag's source) becomes ``pii`` too, and a definition
    that says ``pii: false`` on such a tag is refused."""
    pii = {name for name in tags if tags[name].pii}
    changed: dict[str, AnyTag] = {}
    for name in order:
        if name not in tags or name in pii:
            continue
        tag = tags[name]
        read = sorted(tags.tag_dependencies(name) & pii)
        if not read:
            continue
        if "pii" in tag.model_fields_set:
            _err(
                tags,
                tag,
                "pii",
                f"says false, but the tag is computed from personal data ({', '.join(read)})",
                "remove 'pii: false': a tag derived from a pii tag is pii",
            )
        pii.add(name)
        changed[name] = tag.model_copy(update={"pii": True})
    if not changed:
        return tags
    return TagSet([changed.get(n, tags[n]) for n in tags], tags.sources)
