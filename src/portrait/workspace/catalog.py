"""``ws.catalog``: the tag catalog (标签市场) as a caller may see it, and the personal-data
tags every other service asks about."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from portrait.model.access import Caller

if TYPE_CHECKING:
    from portrait.profile.catalog import TagCatalog
    from portrait.workspace.root import Workspace


class CatalogService:
    def __init__(self, ws: Workspace):
        self._ws = ws
        self._pii: tuple[Any, frozenset[str]] | None = None

    @property
    def tags(self) -> TagCatalog:
        """The tag catalog: definitions from ``tags/`` with the stats of the last build."""
        from portrait.profile.catalog import gather

        return gather(self._ws.layout, self._ws.warehouse, self._ws.built.tags)

    def summaries(
        self, category: str | None = None, caller: Caller | None = None
    ) -> list[dict[str, Any]]:
        """One row per tag (of ``category``, or all) for listings, coverage released as in
        :meth:`detail`."""

        who = self._ws.who(caller)
        rows = self.tags.summaries(category)
        disclosure = self._ws.access.disclosure
        if not disclosure.controlled(who):
            return rows
        built = self._ws.built
        for row in rows:
            tag = built.tags.get(row["name"])
            if tag is not None and tag.stats and row.get("coverage") is not None:
                covered = self._released_stats(row["name"], dict(tag.stats), who)["covered"]
                row["coverage"] = (
                    None if covered is None or not built.users else covered / built.users
                )
        return rows

    def _released_stats(self, name: str, stats: dict[str, Any], caller: Caller) -> dict[str, Any]:
        from portrait.access import releases

        return releases.tag_stats(
            self._ws.access.disclosure,
            caller,
            version=self._ws.built.version,
            name=name,
            stats=stats,
            pii=name in self.pii_tags(),
        )

    def detail(
        self, name: str, dialect: str = "duckdb", caller: Caller | None = None
    ) -> dict[str, Any]:
        """One tag for the catalog's detail page: its definition, the SQL that computes it,
        when it was built, and its statistics (coverage, null rate, distribution, …) as
        ``caller`` may see them (:func:`portrait.access.releases.tag_stats`)."""
        info = self.tags[name]
        built = info.built
        stats = self._released_stats(name, info.stats, self._ws.who(caller)) if built else {}
        return {
            "name": name,
            "source": info.source,
            "definition": info.definition.model_dump(
                by_alias=True, exclude_defaults=False, exclude={"depends_on"}, mode="json"
            ),
            "sql": self.sql(name, dialect),
            "built_at": built.built_at if built else None,
            "stale": built.stale if built else False,
            **stats,
        }

    def sql(self, name: str, dialect: str = "duckdb") -> str:
        """The SQL that computes one tag (standalone form), in ``dialect``."""
        from portrait.compile import tag_sql
        from portrait.profile.pipeline import resolve_as_of

        catalog = self.tags
        catalog[name]  # raises a helpful NotFoundError
        warehouse = self._ws.warehouse
        return tag_sql(
            catalog.definitions,
            name,
            resolve_as_of(self._ws.config, warehouse),
            warehouse.schema(),
            dialect,
            self._ws.config["data.timezone"],
        )

    def pii_tags(self) -> frozenset[str]:
        """Tags marked ``pii: true`` (when built, or in their definitions now), read again
        when the profile version or a tag file changes (every rule check asks)."""
        from portrait.profile.catalog import personal_tags
        from portrait.store.tagfiles import load_tag_files

        snap = self._ws.built
        tags_dir = self._ws.layout.tags_dir
        files = []
        # hot path (a check of every rule from a role below admin): one stat per file
        with os.scandir(tags_dir) as entries:
            for entry in entries:
                if os.path.splitext(entry.name)[1] in (".yaml", ".yml"):  # noqa: PTH122
                    stat = entry.stat()
                    files.append((entry.name, stat.st_mtime_ns, stat.st_size))
        files.sort()
        key = (snap.version, tuple(files))
        if self._pii is None or self._pii[0] != key:
            self._pii = (key, personal_tags(snap.tags, load_tag_files(tags_dir)))
        return self._pii[1]
