"""Tag definitions (tags as code): the pydantic schema of ``tags/*.yaml`` and the tag set.

A tag file holds one category::

    category: basic            # optional, defaults to the file name
    title: 基础属性
    tags:
      - name: age_band
        title: 年龄段
        kind: bucket
        source: age
        bins: [20, 25, 30, 35, 40]

Kinds: ``attribute`` (a users column), ``bucket`` (numeric → labelled ranges), ``metric``
(windowed aggregate over events or orders), ``preference`` (top-k values of a property,
multi-valued) and ``derived`` (an expression over other tags). See docs/tags.md.

Longer than ~400 lines because it holds one pydantic model per tag kind (seven) with its
checks, and the tag set with its dependency order; they share the validators and are read
together when a kind is added.
"""

from __future__ import annotations

import graphlib
import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from portrait.errors import DependencyCycleError, TagDefinitionError
from portrait.model.schema import RESERVED_COLUMNS, Scalar, ValueType

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
WINDOW_PATTERN = re.compile(r"^(\d{1,5})([dw])$")

Condition = Scalar | list[Scalar] | dict[str, Scalar | list[Scalar] | None]
OPERATORS: tuple[str, ...] = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not_in",
    "between",
    "is_null",
    "contains",
)


def check_condition(column: str, condition: Any) -> None:
    """Raise ValueError for a ``where:`` entry the compiler could not turn into a predicate."""
    if isinstance(condition, dict):
        if not condition:
            raise ValueError(f"'{column}': an empty condition")
        for op, value in condition.items():
            if op not in OPERATORS:
                raise ValueError(
                    f"'{column}': unknown operator '{op}'; use one of {', '.join(OPERATORS)}"
                )
            if op in ("in", "not_in") and (value == [] or value is None):
                raise ValueError(f"'{column}': '{op}' needs at least one value")
            if op == "between" and not (isinstance(value, list) and len(value) == 2):
                raise ValueError(f"'{column}': 'between' takes two values, [low, high]")
            if op in ("=", "!=", "<", "<=", ">", ">=") and (
                isinstance(value, list) or value is None
            ):
                raise ValueError(f"'{column}': '{op}' takes one value")
    elif isinstance(condition, list) and not condition:
        raise ValueError(f"'{column}': an empty list matches nothing")


MetricAgg = Literal[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "count_distinct",
    "distinct_days",
    "first_time",
    "last_time",
    "days_since_last",
]
AGG_TYPES: dict[str, ValueType] = {
    "count": "int",
    "sum": "float",
    "avg": "float",
    "min": "float",
    "max": "float",
    "count_distinct": "int",
    "distinct_days": "int",
    "first_time": "timestamp",
    "last_time": "timestamp",
    "days_since_last": "int",
}
AGGS_NEEDING_OF = frozenset({"sum", "avg", "min", "max", "count_distinct"})
#: Aggregates whose value for a user with no matching rows is 0, not unknown.
ZERO_WHEN_EMPTY = frozenset({"count", "sum", "count_distinct", "distinct_days"})


class _TagBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    description: str = ""
    owner: str = ""
    pii: bool = False
    refresh: Literal["auto", "manual"] = "auto"
    category: str = ""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "must start with a lower-case letter and use only a-z, 0-9 and _ (at most 63)"
            )
        if value in RESERVED_COLUMNS:
            raise ValueError(f"'{value}' is reserved for the user id columns")
        return value

    @property
    def display(self) -> str:
        return self.title or self.name

    def dependencies(self) -> frozenset[str]:
        """Names of other tags or users columns this tag reads (resolved by the tag set)."""
        return frozenset()

    def fingerprint(self) -> str:
        """A hash of the definition's meaning (title, owner and description do not count)."""
        data = self.model_dump(exclude={"title", "description", "owner", "refresh", "category"})
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class AttributeTag(_TagBase):
    """A column of the users table, as it is."""

    kind: Literal["attribute"] = "attribute"
    column: str = ""
    type: ValueType = "string"

    @property
    def source_column(self) -> str:
        return self.column or self.name

    @property
    def value_type(self) -> ValueType:
        return self.type


class BucketTag(_TagBase):
    """A number cut into labelled ranges ``[a, b)``; the ends are open (``<20``, ``60+``)."""

    kind: Literal["bucket"] = "bucket"
    source: str
    bins: list[float] = Field(min_length=1)
    labels: list[str] | None = None

    @model_validator(mode="after")
    def _check_bins(self) -> BucketTag:
        if any(b <= a for a, b in zip(self.bins, self.bins[1:], strict=False)):
            raise ValueError("bins must be strictly ascending")
        if self.labels is not None and len(self.labels) != len(self.bins) + 1:
            raise ValueError(
                f"labels needs {len(self.bins) + 1} entries for {len(self.bins)} bins "
                "(one below the first edge, one per range, one from the last edge up)"
            )
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        return self

    @property
    def value_type(self) -> ValueType:
        return "string"

    def bucket_labels(self) -> list[str]:
        """Labels in bin order, from below the first edge to above the last."""
        if self.labels is not None:
            return list(self.labels)

        def fmt(x: float) -> str:
            return str(int(x)) if float(x).is_integer() else str(x)

        edges = [fmt(b) for b in self.bins]
        middle = [f"{a}-{b}" for a, b in itertools.pairwise(edges)]
        return [f"<{edges[0]}", *middle, f"{edges[-1]}+"]

    def dependencies(self) -> frozenset[str]:
        return frozenset({self.source})


class _WindowedTag(_TagBase):
    from_: Literal["events", "orders"] = Field(alias="from")
    where: dict[str, Condition] = Field(default_factory=dict)
    window: str = "all"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("where", mode="before")
    @classmethod
    def _check_where(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a mapping of column: condition")
        for column, condition in value.items():
            if isinstance(condition, dict) and not all(isinstance(k, str) for k in condition):
                raise ValueError(f"'{column}': operators must be text such as '>=' or in")
            check_condition(str(column), condition)
        return value

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        if value != "all" and not WINDOW_PATTERN.match(value):
            raise ValueError("must be 'all' or a number of days or weeks such as 7d, 30d, 12w")
        if value != "all" and window_days(value) < 1:
            raise ValueError("must be at least 1d")
        return value

    @property
    def window_days(self) -> int | None:
        return None if self.window == "all" else window_days(self.window)


def window_days(window: str) -> int:
    match = WINDOW_PATTERN.match(window)
    if match is None:
        raise ValueError(f"bad window {window!r}")
    n, unit = int(match.group(1)), match.group(2)
    return n * 7 if unit == "w" else n


class MetricTag(_WindowedTag):
    """An aggregate over events or orders in a window ending on the as-of date."""

    kind: Literal["metric"] = "metric"
    agg: MetricAgg
    of: str | None = None
    type: ValueType | None = None

    @model_validator(mode="after")
    def _check_of(self) -> MetricTag:
        if self.agg in AGGS_NEEDING_OF and not self.of:
            raise ValueError(f"agg '{self.agg}' needs 'of: <column>' (the column to aggregate)")
        if self.agg not in AGGS_NEEDING_OF and self.of:
            raise ValueError(f"agg '{self.agg}' does not take 'of'")
        return self

    @property
    def value_type(self) -> ValueType:
        return self.type or AGG_TYPES[self.agg]


class PreferenceTag(_WindowedTag):
    """The top-k values of a property by frequency (ties: most recent first) or by recency."""

    kind: Literal["preference"] = "preference"
    property_name: str = Field(alias="property")
    top: int = Field(default=3, ge=1, le=50)
    by: Literal["frequency", "recency"] = "frequency"
    min_count: int = Field(default=1, ge=1)

    @property
    def value_type(self) -> ValueType:
        return "list<string>"


#: RFM segments by (R, F, M) above (H) or not above (L) the mean score
RFM_SEGMENTS: dict[str, str] = {
    "HHH": "重要价值",
    "HLH": "重要发展",
    "LHH": "重要保持",
    "LLH": "重要挽留",
    "HHL": "一般价值",
    "HLL": "一般发展",
    "LHL": "一般保持",
    "LLL": "一般挽留",
}


class RfmTag(_WindowedTag):
    """RFM over the orders of a window: recency (days since the last order), frequency
    (orders), monetary (amount); each scored 1..``scores`` by quantile among the users with
    orders (ties share the lower score; recent = high R), and the 8 classic segments by
    comparing each score with its mean. ``score`` picks the column: r, f, m or segment."""

    kind: Literal["rfm"] = "rfm"
    from_: Literal["orders"] = Field(default="orders", alias="from")
    window: str = "365d"
    score: Literal["r", "f", "m", "segment"]
    scores: int = Field(default=5, ge=2, le=10)

    @property
    def value_type(self) -> ValueType:
        return "string" if self.score == "segment" else "int"


class DerivedTag(_TagBase):
    """A SQL expression over other tags (parsed and checked, never pasted into SQL as text)."""

    kind: Literal["derived"] = "derived"
    expr: str
    type: ValueType
    #: filled in by the compiler's validation: the tags the expression reads
    depends_on: tuple[str, ...] = ()

    @property
    def value_type(self) -> ValueType:
        return self.type

    def dependencies(self) -> frozenset[str]:
        return frozenset(self.depends_on)


class PersonaLabel(BaseModel):
    """A persona's name and description, shown on its card (its value stays ``P1``…)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    description: str = ""


class PersonaTag(_TagBase):
    """Clustering personas (聚类画像): each user's persona, ``P1`` (the largest in the sample) to ``Pk``,
    from a model fitted on the tags ``features`` by ``portrait persona fit`` and stored here
    (``model``: the encoding and centroids, :class:`portrait.learning.personas.PersonaModel`)
    with what it was fitted on (``fitted_on``: the profile version, ``sample``, ``seed``).
    ``labels`` holds each persona's editable name and description."""

    kind: Literal["persona"] = "persona"
    features: tuple[str, ...] = Field(min_length=1, max_length=50)
    k: int = Field(ge=2, le=50)
    sample: int = Field(default=50_000, ge=100)
    seed: int = 0
    fitted_on: str = ""
    silhouette: dict[int, float] = Field(default_factory=dict)
    stability: float | None = None
    model: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, PersonaLabel] = Field(default_factory=dict)

    @property
    def value_type(self) -> ValueType:
        return "string"

    def dependencies(self) -> frozenset[str]:
        return frozenset(self.features)

    def fingerprint(self) -> str:
        """The features, k and the fitted model count; names and descriptions do not."""
        data = self.model_dump(
            exclude={"title", "description", "owner", "refresh", "category", "labels"}
        )
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


TagDefinition = Annotated[
    AttributeTag | BucketTag | MetricTag | PreferenceTag | RfmTag | DerivedTag | PersonaTag,
    Field(discriminator="kind"),
]
AnyTag = AttributeTag | BucketTag | MetricTag | PreferenceTag | RfmTag | DerivedTag | PersonaTag
TAG_KINDS = ("attribute", "bucket", "metric", "preference", "rfm", "derived", "persona")


class TagFile(BaseModel):
    """One YAML file of ``tags/``: a category and its tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str = ""
    title: str = ""
    tags: list[TagDefinition] = Field(default_factory=list)


def _describe_pydantic(exc: ValidationError, raw_tags: list[Any]) -> tuple[str, int | None]:
    """First error of a tag file as 'tag X, field Y: message' and the tag's index."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    index = None
    tag_name = None
    if len(loc) >= 2 and loc[0] == "tags" and isinstance(loc[1], int):
        index = loc[1]
        raw = raw_tags[index] if index < len(raw_tags) else None
        if isinstance(raw, dict):
            tag_name = raw.get("name")
        loc = loc[2:]
        if loc and isinstance(loc[0], str) and loc[0] in TAG_KINDS:
            loc = loc[1:]  # the discriminated-union branch name adds nothing for the reader
    field = ".".join(str(p) for p in loc if p != "from_") or None
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "union_tag_invalid":
        message = f"unknown kind; expected one of {', '.join(TAG_KINDS)}"
        field = "kind"
    elif err["type"] == "union_tag_not_found":
        message = f"missing 'kind'; one of {', '.join(TAG_KINDS)}"
        field = "kind"
    elif err["type"] == "extra_forbidden":
        message = "unknown field"
    parts = []
    if tag_name:
        parts.append(f"tag '{tag_name}'")
    elif index is not None:
        parts.append(f"tag #{index + 1}")
    if field:
        parts.append(f"field '{field}'")
    return (", ".join(parts) + ": " if parts else "") + message, index


def _tag_lines(text: str) -> list[int]:
    """1-based line numbers where each entry of the ``tags`` list starts."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "tags" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def parse_tag_file(text: str, source: str, default_category: str) -> list[AnyTag]:
    """Parse and validate one tag file's text. ``source`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise TagDefinitionError(f"not valid YAML: {exc}", where=where) from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise TagDefinitionError(
            "a tag file must be a mapping with a 'tags:' list",
            where=source,
            hint="see docs/tags.md for the file layout",
        )
    raw_tags = data.get("tags") if isinstance(data.get("tags"), list) else []
    try:
        parsed = TagFile.model_validate(data)
    except ValidationError as exc:
        message, index = _describe_pydantic(exc, raw_tags or [])
        lines = _tag_lines(text)
        where = source
        if index is not None and index < len(lines):
            where = f"{source}:{lines[index]}"
        raise TagDefinitionError(message, where=where, hint="see docs/tags.md") from None
    category = parsed.category or default_category
    # A tag's own category wins over the file's.
    return [tag.model_copy(update={"category": tag.category or category}) for tag in parsed.tags]


class TagSet(Mapping[str, AnyTag]):
    """All tag definitions of a workspace, by name, in a dependency-respecting order."""

    def __init__(self, tags: list[AnyTag], sources: Mapping[str, str] | None = None):
        self.sources = dict(sources or {})
        by_name: dict[str, AnyTag] = {}
        for tag in tags:
            if tag.name in by_name:
                first = self.sources.get(tag.name, "?")
                raise TagDefinitionError(
                    f"tag '{tag.name}' is defined twice",
                    where=first,
                    hint="tag names are unique across all files in tags/",
                )
            by_name[tag.name] = tag
        self._tags = by_name

    def __getitem__(self, name: str) -> AnyTag:
        return self._tags[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)

    def tag_dependencies(self, name: str) -> frozenset[str]:
        """Dependencies of ``name`` that are tags (the rest are users columns)."""
        return frozenset(d for d in self._tags[name].dependencies() if d in self._tags)

    def build_order(self) -> list[str]:
        """Names with every tag after the tags it reads; a cycle raises naming it."""
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for name in self._tags:
            sorter.add(name, *sorted(self.tag_dependencies(name)))
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])
            where = self.sources.get(cycle[0])
            raise DependencyCycleError(
                "tags depend on each other in a cycle: " + " -> ".join(cycle),
                where=where,
                hint="break the cycle by removing one of these references",
            ) from None

    def levels(self) -> list[list[str]]:
        """Tags grouped by depth: level 0 reads only tables, level n reads tags of level < n."""
        depth: dict[str, int] = {}
        for name in self.build_order():
            deps = self.tag_dependencies(name)
            depth[name] = 1 + max((depth[d] for d in deps), default=-1)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for name in self._tags:  # keep declaration order inside a level
            out[depth[name]].append(name)
        return out

    def dependents(self, names: set[str]) -> set[str]:
        """``names`` and every tag that reads one of them, directly or not."""
        result = set(names)
        for name in self.build_order():
            if self.tag_dependencies(name) & result:
                result.add(name)
        return result
