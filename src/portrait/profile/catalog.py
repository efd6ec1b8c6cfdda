"""The tag catalog (标签市场): every defined tag with its definition file and, once built,
the statistics the last build recorded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from portrait.errors import NotFoundError, TagDefinitionError, suggest
from portrait.model.manifests import BuiltTag
from portrait.model.tags import AnyTag, TagSet
from portrait.store.layout import Layout
from portrait.store.tagfiles import load_tag_files
from portrait.store.warehouse import WarehouseSnapshot


@dataclass(frozen=True)
class TagInfo:
    """A tag of the catalog: its definition and, once built, its statistics."""

    definition: AnyTag
    source: str
    built: BuiltTag | None

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.built.stats) if self.built else {}

    def summary(self) -> dict[str, Any]:
        d = self.definition
        stats = self.stats
        return {
            "name": d.name,
            "title": d.title,
            "category": d.category,
            "kind": d.kind,
            "type": d.value_type,
            "pii": d.pii,
            "owner": d.owner,
            "coverage": stats.get("coverage"),
            "distinct": stats.get("distinct"),
            "last_built": self.built.built_at if self.built else None,
            "stale": self.built.stale if self.built else False,
        }


class TagCatalog(Mapping[str, TagInfo]):
    """The tag catalog (标签市场): every defined tag with its latest build statistics."""

    def __init__(self, tags: TagSet, built: Mapping[str, BuiltTag]):
        self._tags = tags
        self._built = built

    def __getitem__(self, name: str) -> TagInfo:
        if name not in self._tags:
            raise NotFoundError(
                f"no tag named '{name}'",
                hint=suggest(name, self._tags) or "see 'portrait tags list'",
            )
        return TagInfo(self._tags[name], self._tags.sources.get(name, ""), self._built.get(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)

    def summaries(self, category: str | None = None) -> list[dict[str, Any]]:
        """One row per tag (of ``category``, or all) for listings."""
        rows = [self[name].summary() for name in self._tags]
        return [r for r in rows if category is None or r["category"] == category]

    @property
    def definitions(self) -> TagSet:
        return self._tags


def gather(
    layout: Layout, warehouse: WarehouseSnapshot, built: Mapping[str, BuiltTag]
) -> TagCatalog:
    """The catalog of a workspace: its tag files checked against the loaded tables, with the
    statistics of the ``built`` tags. Before anything is loaded (no columns to check against)
    the definitions are shown as written."""
    from portrait.profile.pipeline import load_tags

    try:
        definitions = load_tags(layout, warehouse)
    except TagDefinitionError:
        if warehouse.tables:
            raise
        definitions = load_tag_files(layout.tags_dir)
    return TagCatalog(definitions, built)


def personal_tags(built: Mapping[str, BuiltTag], defined: Mapping[str, AnyTag]) -> frozenset[str]:
    """The personal-data tags: built ones the build marked ``pii`` (a tag derived from a pii
    tag is marked too), and built ones whose definition says ``pii: true`` now."""
    return frozenset(n for n, tag in built.items() if tag.pii or (n in defined and defined[n].pii))
