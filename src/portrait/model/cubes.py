"""Multi-level segment intersections (多重交集): a cube of dimensions, each a group of audiences
(segments, rules, or the values of a tag), and the needs inferred for its cells.

A cube file (``cubes/NAME.yaml``)::

    name: beauty_needs
    title: 美妆需求
    dimensions:
      - name: purchase                       # members: label → segment name or rule
        members:
          lipstick: 'preferred_items contains any ("lipstick")'
          lip_balm: 'preferred_items contains any ("lip_balm")'
      - name: city                           # or the values of a tag (the most common)
        tag: city
        max_values: 6
      - name: activity                       # or saved segments (label = the segment's name)
        segments: [active_young]
    needs:                                   # what the analyst inferred for a cell
      - cell: {purchase: lipstick, city: 北京}
        need: 想要持久不脱色
        item: lip_liner
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portrait.model.tags import NAME_PATTERN

MAX_DIMENSIONS = 8
MAX_MEMBERS = 50


def _name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(f"{what} '{value}': a lower-case letter, then a-z, 0-9 and _ (at most 63)")
    return value


class Dimension(BaseModel):
    """One way of grouping users: exactly one of ``members`` (label → segment name or rule),
    ``segments`` (saved segments, each its own label) or ``tag`` (the tag's ``max_values``
    most common values, each a member)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    members: dict[str, str] | None = None
    segments: list[str] | None = None
    tag: str | None = None
    max_values: int = Field(default=12, ge=1, le=MAX_MEMBERS)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _name(value, "dimension")

    @model_validator(mode="after")
    def _one_source(self) -> Dimension:
        given = [k for k in ("members", "segments", "tag") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of members, segments or tag")
        for label in self.members or {}:
            if "," in label or "=" in label or not label.strip():
                raise ValueError(
                    f"member '{label}': a label has no ',' or '=' (a cell is written "
                    "dimension=member,…)"
                )
        size = len(self.members or self.segments or [])
        if size > MAX_MEMBERS:
            raise ValueError(f"at most {MAX_MEMBERS} members, not {size}")
        return self


class Need(BaseModel):
    """A need inferred for one cell (a member of each of some dimensions), with the item to
    recommend: the variant a campaign to the cell tests against a blank control."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell: dict[str, str] = Field(min_length=1)
    need: str = Field(min_length=1, max_length=500)
    item: str = Field(default="", max_length=200)


class CubeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    description: str = ""
    dimensions: list[Dimension] = Field(min_length=2, max_length=MAX_DIMENSIONS)
    needs: list[Need] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _name(value, "cube")

    @model_validator(mode="after")
    def _check(self) -> CubeSpec:
        names = [d.name for d in self.dimensions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"dimension '{twice[0]}' is named twice")
        for need in self.needs:
            unknown = [d for d in need.cell if d not in names]
            if unknown:
                raise ValueError(f"a need names the dimension '{unknown[0]}', not in the cube")
        return self

    def dimension(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)

    def to_file(self) -> dict[str, Any]:
        """The cube as its YAML file holds it."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
