"""The facade: open a workspace and use its capabilities. Every surface (Python API, CLI,
later the HTTP API and web UI) goes through :class:`Workspace`.

Example::

    import portrait
    ws = portrait.open("demo-ws")
    ws.build()
    ws.profile(columns=["age_band", "city"]).to_pandas()
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait import ingest as _ingest
from portrait import profile as _profile
from portrait.audience.audience import Audience
from portrait.config import SETTINGS, Config, load_config
from portrait.errors import (
    AccessError,
    InputError,
    LimitError,
    NotFoundError,
    PortraitError,
    TagDefinitionError,
)
from portrait.index.profile_index import ProfileIndex, index_kind
from portrait.model.access import ROLES, Caller, Role
from portrait.model.rules import BehaviourCondition, Rule, rule_size
from portrait.progress import Progress
from portrait.rules import parse_rule, print_rule
from portrait.rules.validate import rule_tags, validate_rule
from portrait.store import warehouse as _warehouse
from portrait.store.layout import Layout

# Heavy parts (Arrow, the engine, the SQL compiler, the metadata database) are imported where
# they are used, so that `portrait count` starts fast.
if TYPE_CHECKING:
    import pyarrow as pa

    from portrait.access import Audit, Keys
    from portrait.access.disclosure import Disclosure
    from portrait.analysis import InsightReport
    from portrait.audience.segments import Segments
    from portrait.audience.selector import Selector
    from portrait.campaigns import Campaigns
    from portrait.compile.rules import RuleSQL
    from portrait.index.ids import UserIdIndex
    from portrait.model.manifests import BuiltTag
    from portrait.model.tags import AnyTag, TagSet
    from portrait.store.metadata import MetadataStore
    from portrait.store.versions import VersionedDir

WORKSPACE_ENV = "PORTRAIT_WORKSPACE"
REFRESHED_FOR = "segments_refreshed_for"
"""The ``portrait_meta`` row naming the profile version the segments were refreshed for."""
INSIGHT_MAX_VALUES = 1000
"""Insight compares, by default, the tags with at most this many distinct values."""


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
            from portrait.errors import suggest

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


def _os_user() -> str:
    """Who runs a local command (the actor of its audit entries and privacy ledger)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "local"


def _check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InputError(f"unknown role '{role}'", where="role", hint="one of " + ", ".join(ROLES))


def resolve_root(path: str | os.PathLike[str] | None) -> Path:
    """``path``, else ``$PORTRAIT_WORKSPACE``, else the current folder."""
    if path is not None:
        return Path(path)
    env = os.environ.get(WORKSPACE_ENV)
    return Path(env) if env else Path.cwd()


class Workspace:
    """An open workspace. Create one with :func:`init` or :func:`portrait.demo.create`."""

    def __init__(
        self,
        root: Path,
        overrides: Mapping[str, Any] | None = None,
        *,
        role: str | None = None,
        actor: str | None = None,
    ):
        self.layout = Layout(root).require()
        self.root = root
        self.config: Config = load_config(root, overrides=overrides)
        self.caller = Caller(
            actor or _os_user(), _check_role(role or self.config["privacy.local_role"])
        )
        """Who acts when a method is not told (``caller=``): the role given to
        :func:`portrait.open` (else ``privacy.local_role``) and the OS user."""
        self._disclosure: Disclosure | None = None
        self._pin: _profile.ProfileSnapshot | None = None
        self._pii_cache: tuple[Any, frozenset[str]] | None = None
        self._index: ProfileIndex | None = None
        self._user_index: tuple[str, UserIdIndex] | None = None
        self._audit: Audit | None = None
        self._segments: Segments | None = None
        self._profile_versions: VersionedDir | None = None
        self._keys: Keys | None = None
        self._built: _profile.ProfileSnapshot | None = None
        self._selector: Selector | None = None
        self._metadata: MetadataStore | None = None

    # -- data --------------------------------------------------------------------------
    def ingest(
        self,
        table: str,
        path: str | os.PathLike[str] | list[Path],
        *,
        mapping: Mapping[str, str] | None = None,
        on_error: str | None = None,
        fmt: str | None = None,
        progress: Progress | None = None,
    ) -> _ingest.IngestReport:
        """Load a users, events or orders file (CSV, Parquet or JSON lines)."""
        return _ingest.ingest(
            self.layout,
            self.config,
            table,
            [Path(p) for p in path] if isinstance(path, list) else Path(path),
            mapping=mapping,
            on_error=on_error,
            fmt=fmt,
            progress=progress,
        )

    def build(
        self, *, full: bool = False, tags: list[str] | None = None, progress: Progress | None = None
    ) -> _profile.BuildReport:
        """Compute changed tags into a new profile version (``full``: all of them), then
        re-evaluate the dynamic segments against it.

        The metadata database records the profile version the segments were last refreshed
        for: a build stopped between the swap and the refresh (killed, the database out of
        reach) leaves it behind the live version, and the next build finishes the refresh
        even when the profile itself is up to date."""
        report = _profile.build(self.layout, self.config, full=full, only=tags, progress=progress)
        if self._has_metadata():
            live = self.built.version
            # the build stands even when a segment's rule no longer fits, or the metadata
            # database cannot be reached: it is reported
            try:
                if not report.up_to_date or self.metadata.meta_value(REFRESHED_FOR) != live:
                    report.segments_refreshed, report.segments_failed = self.segments.refresh_all()
                    with self.metadata.transaction() as conn:
                        self.metadata.set_meta_value(conn, REFRESHED_FOR, live)
            except PortraitError as exc:
                report.segments_failed["*"] = str(exc)
        return report

    # -- reading -----------------------------------------------------------------------
    @property
    def warehouse(self) -> _warehouse.WarehouseSnapshot:
        return _warehouse.snapshot(self.layout)

    @property
    def built(self) -> _profile.ProfileSnapshot:
        """The live profile version (its manifest is read once per version: versions are
        immutable, only the CURRENT pointer moves)."""
        if self._pin is not None:
            return self._pin
        if self._profile_versions is None:
            self._profile_versions = _profile.profile_dir(self.layout)
        current = self._profile_versions.current()
        if self._built is None or self._built.path != current:
            self._built = _profile.profile_snapshot(self.layout)
        return self._built

    @property
    def tags(self) -> TagCatalog:
        """The tag catalog: definitions from ``tags/`` with the stats of the last build."""
        from portrait.store.tagfiles import load_tag_files

        warehouse = self.warehouse
        try:
            definitions = _profile.load_tags(self.layout, warehouse)
        except TagDefinitionError:
            if warehouse.tables:
                raise
            # Nothing loaded yet to check columns against: show the definitions as written.
            definitions = load_tag_files(self.layout.tags_dir)
        return TagCatalog(definitions, self.built.tags)

    def tag_summaries(
        self, category: str | None = None, caller: Caller | None = None
    ) -> list[dict[str, Any]]:
        """One row per tag (of ``category``, or all) for listings, coverage released as in
        :meth:`tag_detail`."""
        who = self._who(caller)
        rows = self.tags.summaries(category)
        if not self.disclosure.controlled(who):
            return rows
        built = self.built
        users = built.users
        for row in rows:
            tag = built.tags.get(row["name"])
            stats = dict(tag.stats) if tag else None
            if stats and row.get("coverage") is not None:
                covered = self._released_stats(row["name"], stats, who)["covered"]
                row["coverage"] = None if covered is None or not users else covered / users
        return rows

    def _released_stats(self, name: str, stats: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """A tag's catalog statistics as ``caller`` may see them: below the permission to see
        personal data, a pii tag shows no values; under disclosure control every count is
        released (the same cells as an insight report's baseline of every user), rows of
        small counts are merged into one suppressed row, and the extremes (one person's
        values) are left out."""
        out = dict(stats)
        if name in self._pii_tags() and not caller.sees_pii:
            for key in ("distribution", "min", "max", "mean", "p25", "p50", "p75", "p90", "p99"):
                out.pop(key, None)
            out["distribution_hidden"] = "personal data (pii): values are shown to admins only"
        if not self.disclosure.controlled(caller):
            return out
        release = self.disclosure.fixed(caller)
        prefix = f"and|all|{self.built.version}"
        users = int(out.get("users") or 0)
        rows = list(out.get("distribution") or [])
        cells = [f"{prefix}|known|{name}", f"{prefix}|missing|{name}"]
        cells += [f"{prefix}|v|{name}|{r['value']}" for r in rows]
        values = [int(out.get("covered") or 0), users - int(out.get("covered") or 0)]
        released = release.counts(cells, values + [int(r["count"]) for r in rows]).tolist()
        covered, missing = (None if v != v else int(v) for v in released[:2])
        out.update(
            covered=covered,
            coverage=None if covered is None or not users else min(covered / users, 1.0),
            null_rate=None if missing is None or not users else min(missing / users, 1.0),
        )
        for key in ("min", "max"):
            out.pop(key, None)
        if "distribution" in out:
            shown, hidden = [], 0
            for row, count in zip(rows, released[2:], strict=True):
                if count != count:  # NaN: suppressed
                    hidden += 1
                else:
                    shown.append({**row, "count": int(count), "share": int(count) / users})
            if hidden:
                shown.append(
                    {
                        "value": "(values held by fewer than "
                        f"{self.disclosure.policy.min_count} users)",
                        "count": None,
                        "share": None,
                        "values": hidden,
                        "suppressed": True,
                    }
                )
            out["distribution"] = shown
        return out

    def tag_detail(
        self, name: str, dialect: str = "duckdb", caller: Caller | None = None
    ) -> dict[str, Any]:
        """One tag for the catalog's detail page: its definition, the SQL that computes it,
        when it was built, and its statistics (coverage, null rate, distribution, …), as
        ``caller`` may see them (see :meth:`_released_stats`)."""
        info = self.tags[name]
        built = info.built
        stats = self._released_stats(name, info.stats, self._who(caller)) if built else {}
        return {
            "name": name,
            "source": info.source,
            "definition": info.definition.model_dump(
                by_alias=True, exclude_defaults=False, exclude={"depends_on"}, mode="json"
            ),
            "sql": self.tag_sql(name, dialect),
            "built_at": built.built_at if built else None,
            "stale": built.stale if built else False,
            **stats,
        }

    def tag_sql(self, name: str, dialect: str = "duckdb") -> str:
        """The SQL that computes one tag (standalone form), in ``dialect``."""
        from portrait.compile import tag_sql

        catalog = self.tags
        catalog[name]  # raises a helpful NotFoundError
        warehouse = self.warehouse
        as_of = _profile.resolve_as_of(self.config, warehouse)
        return tag_sql(
            catalog.definitions,
            name,
            as_of,
            warehouse.schema(),
            dialect,
            self.config["data.timezone"],
        )

    def profile(
        self,
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> pa.Table:
        """The built profile as an Arrow table: ``user_id`` first, then one column per tag.

        Tags marked ``pii: true`` are masked (``138****5678``) unless ``unmask=True``.
        """
        self._user_level(caller, unmask, "the profile")
        import pyarrow.parquet as pq

        snap = self.built
        names = list(snap.tags) if columns is None else list(columns)
        unknown = [c for c in names if c not in snap.tags]
        if unknown:
            raise NotFoundError(
                f"no built tag named '{unknown[0]}'", hint="see 'portrait tags list'"
            )
        table = pq.read_table(snap.profile_file, columns=["user_id", *names])
        return self._masker(names, unmask)(table)

    def export_profile(
        self,
        output: str | os.PathLike[str],
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> int:
        """Write the profile to a .parquet or .csv file (lists joined with ``|`` in CSV),
        streamed row group by row group; PII masked unless ``unmask``."""
        self._user_level(caller, unmask, "the profile")
        from pyroaring import FrozenBitMap

        from portrait.audience.export import export_members, output_format

        snap = self.built
        names = self._check_columns(list(snap.tags) if columns is None else columns)
        out = Path(output)
        output_format(out)
        everyone = FrozenBitMap(range(snap.users))
        return export_members(snap.profile_file, everyone, out, names, self._masker(names, unmask))

    def index(self) -> ProfileIndex:
        """The bitmap index of the built profile (a value or range index per tag); kept open
        while the profile version stays the same."""
        snap = self.built
        if self._index is None or self._index.index_dir != snap.index_dir:
            self._index = ProfileIndex(snap.index_dir, snap.manifest.tag_types(), snap.users)
        return self._index

    # -- audiences ---------------------------------------------------------------------
    def _has_metadata(self) -> bool:
        return (
            self._metadata is not None
            or bool(self.config["store.metadata_url"])
            or (self.layout.meta_dir / "portrait.db").exists()
        )

    @property
    def metadata(self) -> MetadataStore:
        """The metadata database (segments, snapshots, ID lists), opened on first use."""
        from portrait.store.metadata import MetadataStore, open_database

        if self._metadata is None:
            url = self.config["store.metadata_url"]
            self._metadata = MetadataStore(open_database(url, self.layout.meta_dir))
        return self._metadata

    def selector(self) -> Selector:
        """Rule evaluation on the live profile version (kept while the version stays)."""
        from portrait.audience.selector import BuiltProfile, Selector
        from portrait.index.rollup import RollupIndex

        snap = self.built
        if self._selector is None or self._selector.profile.version != snap.version:
            rollup = None
            if snap.rollup_dir:
                try:
                    rollup = RollupIndex(snap.rollup_dir)
                except ValueError:  # built by an older version: the next build replaces it
                    rollup = None
            profile = BuiltProfile(
                version=snap.version,
                tags=snap.tags,
                profile_file=snap.profile_file,
                index=self.index(),
                rollup=rollup,
                as_of=snap.as_of,
            )
            self._selector = Selector(profile, lambda: self.metadata, self._events_sql)
        return self._selector

    def check_rule(self, rule: str | Rule, caller: Caller | None = None) -> Rule:
        """Parse (if text) and check a rule against the catalog of the live profile: tags,
        values, types, events, business lines and event properties; and against what the
        caller's role may ask: its size (conditions, property filters, list values) and
        whether it names personal data (``pii`` tags: the admin role only). Returns the rule.

        A rule that passed once is not checked again on the same profile version.
        """
        from portrait.audience.selector import rule_key

        parsed = parse_rule(rule) if isinstance(rule, str) else rule
        who = self._who(caller)
        self._check_allowed(parsed, who)
        selector = self.selector()
        key = rule_key(parsed)
        if key in selector.checked:
            return parsed
        index = selector.profile.index
        types = {n: m.type for n, m in selector.profile.tags.items()}
        pii = self._pii_tags()
        values: dict[str, list[str]] = {}
        for name in rule_tags(parsed):
            # suggestions never draw on personal data
            if name in types and name not in pii and index_kind(types[name]) == "values":
                value_index = index.values(name)
                if not value_index.sparse:
                    values[name] = value_index.values
        rollup = selector.profile.rollup
        validate_rule(
            parsed,
            types,
            tag_values=values,
            events=rollup.events if rollup else None,
            business_lines=rollup.business_lines if rollup else None,
            properties=self._built_warehouse().schema().get("events"),
        )
        selector.checked.add(key)
        return parsed

    def _check_allowed(self, rule: Rule, caller: Caller) -> None:
        """Refuse what ``caller``'s role may not ask (see :meth:`check_rule`)."""
        size, limits = rule_size(rule), caller.rule_limits
        for what, used, most in (
            ("conditions", size.conditions, limits.conditions),
            (
                "behaviour conditions with property filters",
                size.property_filters,
                limits.property_filters,
            ),
            ("values in lists", size.list_values, limits.list_values),
        ):
            if used > most:
                raise LimitError(
                    f"the rule has {used:,} {what}; role '{caller.role}' may use up to {most:,}",
                    hint="split it into saved segments, or ask with a higher role "
                    "(docs/privacy.md lists the limits)",
                )
        if not caller.sees_pii:
            named = sorted(rule_tags(rule) & self._pii_tags())
            if named:
                raise AccessError(
                    f"the rule selects by personal data ({', '.join(named)}), which role "
                    f"'{caller.role}' may not",
                    hint="pii tags (and tags derived from them) may be used in rules by the "
                    "admin role only; see docs/privacy.md",
                )

    def _user_level(self, caller: Caller | None, unmask: bool, what: str) -> Caller:
        """``caller``, when it may read ``what`` (user-level data), unmasked if asked."""
        who = self._require(caller, "users:read", what)
        if unmask:
            self._require(who, "pii:unmasked", "unmasked personal data")
        return who

    def _who(self, caller: Caller | None) -> Caller:
        return self.caller if caller is None else caller

    def _require(self, caller: Caller | None, permission: str, what: str) -> Caller:
        """``caller`` (default: the workspace's), when its role has ``permission``."""
        who = self._who(caller)
        if not who.can(permission):
            from portrait.model.access import PERMISSIONS

            raise AccessError(
                f"role '{who.role}' may not read {what} (needs {permission}: "
                f"{PERMISSIONS[permission]} and above)",
                hint="aggregates (counts, insight, reports) are open to every role",
            )
        return who

    @property
    def disclosure(self) -> Disclosure:
        """The disclosure policy: what numbers reach a caller (docs/privacy.md)."""
        from portrait.access.disclosure import Disclosure, Policy

        if self._disclosure is None:
            self._disclosure = Disclosure(Policy.from_config(self.config), lambda: self.metadata)
        return self._disclosure

    def _privacy(self, caller: Caller) -> dict[str, Any] | None:
        """The policy note of a controlled answer (None for exact callers)."""
        from portrait.access.disclosure import privacy_note

        if not self.disclosure.controlled(caller):
            return None
        return privacy_note(self.disclosure, caller)

    @property
    def segments(self) -> Segments:
        """Saved segments and uploaded ID lists: ``ws.segments.create("vip", 'value_tier = "高"')``."""
        import pyarrow.parquet as pq

        from portrait.audience.segments import Segments

        if self._segments is None:
            self._segments = Segments(
                self.metadata,
                self.selector,
                self.check_rule,
                lambda: pq.read_table(self.built.profile_file, columns=["user_id"]).column(0),
                self.layout.rejects_dir / "ids",
            )
        return self._segments

    # -- segments as a caller sees them ---------------------------------------------------
    def segment_info(self, name: str, caller: Caller | None = None) -> dict[str, Any]:
        """A saved segment's definition and latest size, as ``caller`` may see them: under
        disclosure control the size is released (noisy, small ones suppressed) and, below
        the permission to see personal data, values compared with pii tags are masked."""
        info = self.segments[name].to_dict()
        return self._shown_segment(info, self._who(caller))

    def segment_list(self, caller: Caller | None = None) -> list[dict[str, Any]]:
        """Every saved segment (see :meth:`segment_info`)."""
        if not self._has_metadata():
            return []
        who = self._who(caller)
        return [self._shown_segment(s.to_dict(), who) for s in self.segments.all()]

    def segment_history(self, name: str, caller: Caller | None = None) -> list[dict[str, Any]]:
        """A segment's size at each evaluation (sizes released as in :meth:`segment_info`)."""
        from portrait.access.disclosure import ratio

        who = self._who(caller)
        rows = self.segments.history(name)
        release = self.disclosure.fixed(who)
        sizes = release.counts([f"snapshot|{r.id}" for r in rows], [r.size for r in rows])
        out = []
        for row, size in zip(rows, sizes.tolist(), strict=True):
            shown = None if size != size else int(size)  # NaN: suppressed
            entry = {
                **row.__dict__,
                "size": shown,
                "evaluated_at": row.evaluated_at.isoformat(timespec="seconds"),
            }
            if not release.exact:
                entry.update(share=ratio(shown, row.population), suppressed=shown is None)
            out.append(entry)
        return out

    def segment_overlap(self, a: str, b: str, caller: Caller | None = None) -> dict[str, Any]:
        """Sizes of A, B, A∩B, A∪B, A only, B only and the Jaccard index, every one computed
        from released counts under disclosure control."""
        from portrait.access.disclosure import ratio, set_digest

        who = self._who(caller)
        exact = self.segments.overlap(a, b)
        if not self.disclosure.controlled(who):
            return exact
        ma, mb = self.segments.members(a), self.segments.members(b)
        da, db = set_digest(ma), set_digest(mb)
        pair = sorted((da, db))
        release = self.disclosure.release(who, {"kind": "overlap", "sets": pair}, 3)
        size_a, size_b, both = (
            None if v != v else int(v)
            for v in release.counts(
                [f"set|{da}", f"set|{db}", f"both|{pair[0]}|{pair[1]}"],
                [exact["size_a"], exact["size_b"], exact["intersection"]],
            ).tolist()
        )
        known = size_a is not None and size_b is not None and both is not None
        union = max(size_a + size_b - both, 0) if known else None  # type: ignore[operator]
        return {
            "a": a,
            "b": b,
            "size_a": size_a,
            "size_b": size_b,
            "intersection": both,
            "union": union,
            "jaccard": ratio(both, union) if known else None,
            "a_only": max(size_a - both, 0) if known else None,  # type: ignore[operator]
            "b_only": max(size_b - both, 0) if known else None,  # type: ignore[operator]
            "suppressed": not known,
            "privacy": self._privacy(who),
        }

    def _shown_segment(self, info: dict[str, Any], caller: Caller) -> dict[str, Any]:
        from portrait.access.disclosure import mask_rule_literals

        if not caller.sees_pii:
            rule = parse_rule(info["rule"])
            pii = self._pii_tags() & rule_tags(rule)
            if pii:
                info["rule"] = print_rule(mask_rule_literals(rule, pii))
        if self.disclosure.controlled(caller) and info.get("size") is not None:
            history = self.segments.history(info["name"])
            release = self.disclosure.fixed(caller)
            size = release.count(f"snapshot|{history[-1].id}", int(info["size"]))
            info.update(size=size, suppressed=size is None)
        return info

    @property
    def keys(self) -> Keys:
        """API keys (roles, hashed secrets, revocation): ``ws.keys.create("analyst")``."""
        from portrait.access import Keys

        if self._keys is None:
            self._keys = Keys(self.metadata)
        return self._keys

    @property
    def audit(self) -> Audit:
        """The audit log of user-level reads, exports and campaign actions."""
        from portrait.access import Audit

        if self._audit is None:
            self._audit = Audit(self.metadata)
        return self._audit

    def campaigns(
        self, *, clock: Any = None, actor: str | None = None, caller: Caller | None = None
    ) -> Campaigns:
        """Campaigns of this workspace (definitions, dry runs, launches, reports), on the
        live profile version. ``clock`` (a function giving an aware UTC datetime) and
        ``actor`` (who acts, for the change log) default to now and the OS user; audience
        rules are checked for ``caller`` (default: the workspace's; its actor is the
        change log's when ``actor`` is not given)."""
        from portrait.campaigns import Campaigns, Inputs

        who = self._who(caller)
        snap = self.built
        warehouse = self._built_warehouse()
        orders = warehouse.tables.get("orders")
        events = warehouse.tables.get("events")
        rollup = self.selector().profile.rollup

        def check_audience(spec: str) -> None:
            text = spec.strip()
            if self._has_metadata() and text in self.segments:
                return
            if text.isidentifier():
                from portrait.audience.selector import no_such_segment

                raise no_such_segment(text, self.metadata)
            self.check_rule(text, who)

        extra: dict[str, Any] = {}
        if clock is not None:
            extra["clock"] = clock
        if actor is None and caller is not None:
            actor = caller.actor
        if actor is not None:
            extra["actor"] = actor
        return Campaigns(
            Inputs(
                store=self.metadata,
                audience=self.audience,
                check_audience=check_audience,
                profile_file=snap.profile_file,
                profile_version=snap.version,
                as_of=snap.as_of.isoformat() if snap.as_of else None,
                tags=list(snap.tags),
                channels=self.config.channels,
                settings=self.config,
                outbox=self.layout.root / "campaigns" / "outbox",
                orders_files=orders.paths(warehouse.path) if orders and warehouse.path else [],
                events_files=events.paths(warehouse.path) if events and warehouse.path else [],
                event_names=rollup.events if rollup is not None else [],
                pii_tags=self._pii_tags,
                **extra,
            )
        )

    def campaign_dry_run(
        self, name: str, *, samples: int = 3, caller: Caller | None = None
    ) -> dict[str, Any]:
        """A campaign's dry run as ``caller`` may see it: sample messages rendered with
        personal data masked unless its role may see it (the channel still gets real values
        at send time); written to the audit log (who previewed which campaign, unmasked or
        not)."""
        who = self._require(caller, "campaigns:write", "campaign previews")
        unmask = who.sees_pii
        plan: dict[str, Any] = (
            self.campaigns(caller=who).dry_run(name, samples=samples, unmask=unmask).to_dict()
        )
        action = "campaign:dry-run" + (":unmasked" if unmask else "")
        self.audit.record(who.actor, action, name, int(plan["audience"]))
        return plan

    def select(
        self, rule: str | Rule, *, cache: bool = True, caller: Caller | None = None
    ) -> Audience:
        """The users a rule selects now, from the bitmap index. Results are cached by (rule,
        data version, segment/ID-list changes); ``cache=False`` evaluates afresh. Members
        are user-level data: the caller needs ``users:read`` (analyst and above).

        Example: ``ws.select('city in ("北京", "上海") and events("search", last="7d") > 3')``.
        """
        who = self._require(caller, "users:read", "the members of an audience")
        return self._select(self.check_rule(rule, who), cache=cache)

    def _select(self, parsed: Rule, *, cache: bool = True) -> Audience:
        selector = self.selector()
        members = selector.evaluate(parsed, cache=cache)
        profile = selector.profile
        return Audience(members, profile.profile_file, profile.population, self._pii_tags)

    def count(
        self, rule: str | Rule, *, cache: bool = True, caller: Caller | None = None
    ) -> dict[str, Any]:
        """Size of a rule's audience: size, share of all users, seconds taken, as-of date.

        A caller under disclosure control (the viewer role) gets a noisy size, ``None`` (and
        ``suppressed: true``) below ``privacy.min_count``, and a ``privacy`` note."""
        from portrait.access.disclosure import ratio, set_digest

        who = self._who(caller)
        started = time.perf_counter()
        parsed = self.check_rule(rule, who)
        audience = self._select(parsed, cache=cache)
        profile = self.selector().profile
        size: int | None = len(audience)
        if self.disclosure.controlled(who):
            digest = set_digest(audience.bitmap)
            release = self.disclosure.release(who, {"kind": "count", "set": digest}, 1)
            size = release.count(f"set|{digest}", len(audience))
        privacy = self._privacy(who)
        seconds = time.perf_counter() - started
        result: dict[str, Any] = {
            "rule": print_rule(parsed),
            "size": size,
            "population": audience.population,
            "share": ratio(size, audience.population),
            "seconds": seconds,
            "as_of": profile.as_of.isoformat() if profile.as_of else None,
            "profile_version": profile.version,
        }
        if privacy is not None:
            result.update(suppressed=size is None, privacy=privacy)
        return result

    def audience(self, spec: str | Rule | Audience, caller: Caller | None = None) -> Audience:
        """An audience from a saved segment's name, a rule (text or model) or an Audience.
        Members are user-level data: the caller needs ``users:read``."""
        self._require(caller, "users:read", "the members of an audience")
        return self._audience(spec, self._who(caller))

    def _audience(self, spec: str | Rule | Audience, caller: Caller) -> Audience:
        """The members an analysis reads (its answer goes through disclosure control)."""
        if isinstance(spec, Audience):
            return spec
        if isinstance(spec, str) and self._has_metadata() and spec.strip() in self.segments:
            selector = self.selector()
            members = self.segments.members(spec.strip())
            profile = selector.profile
            return Audience(members, profile.profile_file, profile.population, self._pii_tags)
        if isinstance(spec, str) and spec.strip().isidentifier():  # a name, not a rule
            from portrait.audience.selector import no_such_segment

            raise no_such_segment(spec.strip(), self.metadata)
        return self._select(self.check_rule(spec, caller))

    def insight(
        self,
        target: str | Rule | Audience,
        *,
        baseline: str | Rule | Audience | None = None,
        tags: list[str] | None = None,
        include_missing: bool = False,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> InsightReport:
        """Compare a target audience (segment name, rule or Audience) with a baseline (default:
        every user) on every value of ``tags`` (default: every tag that can be compared): counts,
        valid-percent shares, TGI, z-test and TGI interval. See :mod:`portrait.analysis.insight`.
        Under disclosure control every number is computed from released (noisy, small cells
        suppressed) counts; the report's ``privacy`` says so.

        Example: ``ws.insight('city = "北京"', tags=["age_band"]).rows``.
        """
        from pyroaring import AbstractBitMap, FrozenBitMap

        from portrait.analysis import insight

        who = self._who(caller)
        selector = self.selector()
        profile = selector.profile
        chosen = self._insight_tags(tags, who)
        members = self._audience(target, who)
        base: AbstractBitMap
        if baseline is None:
            base = FrozenBitMap(range(profile.population))
            name = "population"
        else:
            base = self._audience(baseline, who).bitmap
            name = baseline if isinstance(baseline, str) else "baseline"
        types = {n: m.type for n, m in profile.tags.items()}
        releases: dict[str, Any] = {}
        if self.disclosure.controlled(who):
            releases = self._insight_releases(
                who, members.bitmap, None if baseline is None else base, chosen, include_missing
            )
        report = insight(
            profile.index,
            chosen,
            types,
            members.bitmap,
            base,
            baseline_name=name,
            include_missing=include_missing,
            min_count=min_count,
            **releases,
        )
        report.privacy = self._privacy(who)
        return report

    def _insight_releases(
        self,
        caller: Caller,
        target: Any,
        baseline: Any | None,
        tags: list[str],
        include_missing: bool,
    ) -> dict[str, Any]:
        """The release functions of an insight report for a controlled caller: its cells
        renamed by what they count (the member set's digest, the profile version, the tag
        and the value) and its cost charged (a histogram per tag and side; a multi-valued
        tag's values overlap, so each of them counts)."""
        from portrait.access.disclosure import set_digest

        profile = self.selector().profile
        digests = {"target": set_digest(target)}
        digests["baseline"] = "all" if baseline is None else set_digest(baseline)
        version = profile.version

        def cost_of(tag: str) -> int:
            if profile.tags[tag].multi_valued:
                return 1 + profile.index.values(tag).distinct
            return 1

        per_side = sum(cost_of(t) for t in tags)
        cost = 1 + per_side + (0 if baseline is None else 1 + per_side)
        query = {"kind": "insight", **digests, "tags": sorted(tags), "version": version}
        charged = self.disclosure.release(caller, query, cost)
        fixed = self.disclosure.fixed(caller)

        def cell(name: str) -> str:
            side, what = name.split("|", 1)
            digest = digests[side]
            return f"set|{digest}" if what == "size" else f"and|{digest}|{version}|{what}"

        def target_release(cells: Sequence[str], values: Any) -> Any:
            return charged.counts([cell(c) for c in cells], values)

        def population_release(cells: Sequence[str], values: Any) -> Any:
            out = fixed.counts([cell(c) for c in cells], values)
            out[0] = float(values[0])  # the number of users is public
            return out

        return {"release": target_release, "population_release": population_release}

    def distinctive(
        self,
        target: str | Rule | Audience,
        *,
        baseline: str | Rule | Audience | None = None,
        top: int = 10,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """The tag values that most distinguish a target from the baseline (its automatic
        persona): over-represented values whose TGI is above 100 even at the low end of its
        95% interval, ranked by that low end. Tags the target's own rule reads are left out
        (a rule ``city = "北京"`` is trivially distinguished by its city)."""
        own: set[str] = set()
        if isinstance(target, str) and not (
            self._has_metadata() and target.strip() in self.segments
        ):
            own = rule_tags(parse_rule(target))
        elif not isinstance(target, str | Audience):
            own = rule_tags(target)
        tags = [t for t in self._insight_tags(None) if t not in own]
        report = self.insight(
            target, baseline=baseline, tags=tags, min_count=min_count, caller=caller
        )
        return report.distinctive(top)

    def cross(
        self,
        audiences: Sequence[str | Rule | Audience] | None = None,
        *,
        min_support: float = 0.0,
        min_confidence: float = 0.0,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """Cross-business analysis: every ordered pair of the audiences (segment names or
        rules; default: the users active in each business line over the last 360 days) with
        sizes, overlap/union, support, confidence and lift; ``flagged`` pairs reach both
        thresholds. See :mod:`portrait.analysis.cross`."""
        from portrait.analysis import cross_matrix

        if audiences is None:
            rollup = self.selector().profile.rollup
            lines = rollup.business_lines if rollup else []
            if not lines:
                raise InputError(
                    "no business lines in the built events",
                    hint="name the audiences to compare (segments or rules)",
                )
            specs: list[str | Rule | Audience] = [
                f'events(line="{line}", last="360d") >= 1' for line in lines
            ]
            names = list(lines)
        else:
            specs = list(audiences)
            names = [
                s
                if isinstance(s, str)
                else print_rule(s)
                if not isinstance(s, Audience)
                else f"audience {i + 1}"
                for i, s in enumerate(specs)
            ]
        who = self._who(caller)
        members = [
            (name, self._audience(spec, who).bitmap)
            for name, spec in zip(names, specs, strict=True)
        ]
        population = self.selector().profile.population
        extra: dict[str, Any] = {}
        if self.disclosure.controlled(who):
            extra["release"] = self._cross_release(who, [m for _, m in members])
        return cross_matrix(
            members, population, min_support=min_support, min_confidence=min_confidence, **extra
        )

    def _cross_release(self, caller: Caller, members: list[Any]) -> Any:
        """The release of a cross matrix for a controlled caller (cells by member sets)."""
        from portrait.access.disclosure import set_digest

        digests = [set_digest(m) for m in members]
        n = len(digests)
        release = self.disclosure.release(
            caller, {"kind": "cross", "sets": sorted(digests)}, n + n * (n - 1) // 2
        )

        def cell(name: str) -> str:
            what, *at = name.split("|")
            if what == "size":
                return f"set|{digests[int(at[0])]}"
            pair = sorted(digests[int(i)] for i in at)
            return f"both|{pair[0]}|{pair[1]}"

        return lambda cells, values: release.counts([cell(c) for c in cells], values)

    def cross_insight(
        self,
        a: str | Rule | Audience,
        b: str | Rule | Audience,
        *,
        tags: list[str] | None = None,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> InsightReport:
        """Who are the cross users? Insight on A∩B against A: what sets the users of A who are
        also in B apart from the rest of A."""
        who = self._who(caller)
        first = self._audience(a, who)
        both = first & self._audience(b, who)
        report = self.insight(both, baseline=first, tags=tags, min_count=min_count, caller=who)
        report.baseline = a if isinstance(a, str) else "A"
        return report

    def association_rules(
        self,
        *,
        min_support: float = 0.01,
        min_confidence: float = 0.2,
        basket: str = "orders",
        item: str | None = None,
        max_size: int = 4,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """Association rules for cross-sell over baskets of the built warehouse version:
        ``basket="orders"`` (each order's ``item`` column, default ``items``) or
        ``"events:<event>"`` (each user's events of that name; ``item`` names the property). See :mod:`portrait.analysis.baskets` and
        :mod:`portrait.analysis.association`."""
        from portrait.analysis.association import association_rules, frequent_itemsets
        from portrait.analysis.baskets import event_baskets, order_baskets, parse_basket
        from portrait.errors import suggest

        source, event = parse_basket(basket)
        warehouse = self._built_warehouse()
        table = warehouse.tables.get(source)
        if table is None or warehouse.path is None:
            raise InputError(f"no {source} have been loaded", hint=f"portrait ingest {source} FILE")
        if item is None:
            if source == "events":
                raise InputError(
                    "name the event property that holds the items",
                    where="--item",
                    hint="e.g. --item item_category",
                )
            item = "items"
        if item not in table.columns:
            raise InputError(
                f"{source} have no column '{item}'",
                where="--item",
                hint=suggest(item, table.columns) or "columns: " + ", ".join(table.columns),
            )
        paths = table.paths(warehouse.path)
        if event is None:
            baskets = order_baskets(paths, item)
        else:
            baskets = event_baskets(paths, event, item)
            if not baskets:
                events = self.selector().profile.rollup
                known = events.events if events is not None else []
                raise InputError(
                    f"no '{event}' events with a {item}",
                    where="--basket",
                    hint=suggest(event, known) or None,
                )
        itemsets = frequent_itemsets(baskets, min_support, max_size=max_size)
        rules = association_rules(itemsets, min_confidence)
        who = self._who(caller)
        if self.disclosure.controlled(who):
            # the baskets are every order (no caller-chosen subset to difference): rules
            # resting on fewer than min_count baskets are left out
            k = self.disclosure.policy.min_count
            rules = [r for r in rules if int(r["baskets"]) >= k]
        return rules

    def user_index(self) -> UserIdIndex:
        """User id → dense id lookups over the live profile version (built once per version,
        about a second per 10M users)."""
        import pyarrow.parquet as pq

        from portrait.index.ids import UserIdIndex

        snap = self.built
        cached = self._user_index
        if cached is None or cached[0] != snap.version:
            ids = pq.read_table(snap.profile_file, columns=["user_id"]).column(0)
            cached = (snap.version, UserIdIndex(ids))
            self._user_index = cached
        return cached[1]

    def close(self) -> None:
        """Write what is waiting (grouped audit entries) and close the metadata database."""
        if self._audit is not None:
            self._audit.close()
        if self._metadata is not None:
            self._metadata.engine.dispose()

    def is_warm(self) -> bool:
        """Whether the user id index and the rule evaluator are those of the live profile
        version (else the next per-user call rebuilds them: about a second per 10M users)."""
        version = self.built.version
        return (
            self._user_index is not None
            and self._user_index[0] == version
            and self._selector is not None
            and self._selector.profile.version == version
        )

    def warm(self) -> None:
        """Load what the per-user interfaces read (the user id index, the bitmap index, every
        saved segment's members) ahead of the first request."""
        self.user_index()
        self.index()
        if self._has_metadata():
            self.segments.containing([])

    def _user_ids(self) -> Any:
        """The profile's ``user_id`` column (row = uid), kept per profile version."""
        return self.user_index().ids

    def user_ids_of(self, uids: Sequence[int]) -> list[str]:
        """The user ids of dense ids (profile rows)."""
        return self.user_index().user_ids(uids)

    def uid_of(self, user_id: str) -> int:
        """The dense id of a user (its profile row); an unknown id is an error."""
        (found,) = self.user_index().find([user_id])
        if found is None:
            raise NotFoundError(f"no user with id '{user_id}'", hint="ids are the users' user_id")
        return found

    def segments_of(self, user_id: str, caller: Caller | None = None) -> list[str]:
        """For personalisation: the names of the saved segments a user is in now."""
        self._user_level(caller, False, "a user's segments")
        uid = self.uid_of(user_id)
        if not self._has_metadata():
            return []
        (names,) = self.segments.containing([uid])
        return names or []

    def membership(
        self, user_ids: Sequence[str], segments: Sequence[str], caller: Caller | None = None
    ) -> dict[str, dict[str, bool] | None]:
        """For personalisation: which of ``segments`` each user is in (None for an unknown
        user id). Unknown segment names are an error."""
        self._user_level(caller, False, "segment membership")
        uids = self.user_index().find(user_ids)
        rows = self.segments.membership(uids, segments)
        return {str(u): row for u, row in zip(user_ids, rows, strict=True)}

    def user(
        self,
        user_id: str,
        *,
        events: int = 20,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """One user's 360 view: tag values grouped by category (PII masked unless ``unmask``),
        the segments it is in, its campaigns (group, delivery state, responses), its latest
        ``events`` events and an orders summary, all of one profile version (a build
        finishing meanwhile does not mix two)."""
        self._user_level(caller, unmask, "a user's profile")
        with self._pinned():
            return self._user(user_id, events, unmask)

    @contextlib.contextmanager
    def _pinned(self) -> Iterator[_profile.ProfileSnapshot]:
        """Every read inside sees the profile version live when it began."""
        if self._pin is not None:
            yield self._pin
            return
        self._pin = self.built
        try:
            yield self._pin
        finally:
            self._pin = None

    def _user(self, user_id: str, events: int, unmask: bool) -> dict[str, Any]:
        import numpy as np

        from portrait.analysis.user360 import orders_summary, recent_events
        from portrait.audience.export import take_rows
        from portrait.engine import EngineSettings, open_engine
        from portrait.store.tagfiles import load_tag_files

        snap = self.built
        found = self.uid_of(user_id)
        names = list(snap.tags)
        row = self._masker(names, unmask)(
            take_rows(snap.profile_file, np.array([found]), ["user_id", *names])
        ).to_pylist()[0]
        definitions = load_tag_files(self.layout.tags_dir)
        categories: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            title = definitions[name].title if name in definitions else ""
            category = snap.tags[name].category or "other"
            categories.setdefault(category, []).append(
                {"tag": name, "title": title, "value": row[name]}
            )
        segments = []
        history: list[dict[str, Any]] = []
        if self._has_metadata():
            segments = self.segments.containing([found])[0] or []
            history = self.campaigns().history(int(found))
        warehouse = self._built_warehouse()
        engine = open_engine(EngineSettings.from_config(self.config, self.layout.spill_dir))
        try:
            paths = {
                t: state.paths(warehouse.path) if warehouse.path else []
                for t, state in warehouse.tables.items()
            }
            latest = recent_events(engine, paths.get("events", []), str(user_id), events)
            orders = orders_summary(engine, paths.get("orders", []), str(user_id))
        finally:
            engine.close()
        return {
            "user_id": str(user_id),
            "uid": int(found),
            "as_of": snap.as_of.isoformat() if snap.as_of else None,
            "tags": categories,
            "segments": segments,
            "orders": orders,
            "events": latest,
            "campaigns": history,
        }

    def rfm_report(
        self,
        segment_tag: str | None = None,
        *,
        window: str | None = None,
        scores: int | None = None,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        """The 8 RFM segments: users, share of the users with orders and mean R, F and M score
        per segment, largest first.

        By default it reads the built ``kind: rfm`` tags (``score: segment`` and the r/f/m
        tags of the same window and scale; ``segment_tag`` picks one when there are several).
        With ``window`` ("90d", "52w", "all") or ``scores`` (2 to 10), or when no RFM tag is
        built, it computes them from the orders of the built data version at its as-of date
        (defaults 365d and 5) and adds the mean recency in days, orders and amount.
        """
        rows = self._rfm_report(segment_tag, window, scores)
        who = self._who(caller)
        if not self.disclosure.controlled(who):
            return rows
        # numbers fixed by the data (the caller chooses only among a few windows): released
        # without charge, averages left out with their suppressed counts
        release = self.disclosure.fixed(who)
        prefix = f"rfm|{self.built.version}|{segment_tag}|{window}|{scores}"
        total = sum(int(r["users"]) for r in rows)
        released = release.counts(
            [f"{prefix}|total"] + [f"{prefix}|{r['segment']}" for r in rows],
            [total] + [int(r["users"]) for r in rows],
        ).tolist()
        shown_total = None if released[0] != released[0] else released[0]
        out = []
        for row, users in zip(rows, released[1:], strict=True):
            if users != users:  # NaN: suppressed
                out.append({**dict.fromkeys(row), "segment": row["segment"], "suppressed": True})
            else:
                share = users / shown_total if shown_total else None
                out.append({**row, "users": int(users), "share": share})
        return out

    def _rfm_report(
        self, segment_tag: str | None, window: str | None, scores: int | None
    ) -> list[dict[str, Any]]:
        from portrait.analysis.rfm import rfm_definition

        if window is not None or scores is not None:
            if segment_tag is not None:
                raise InputError("--tag reads built RFM tags; --window and --scores compute anew")
            return self._rfm_on_the_fly(rfm_definition(window or "365d", scores or 5))
        definitions = self.tags.definitions
        rfm = [definitions[n] for n in self.built.tags if definitions.get(n) is not None]
        rfm = [t for t in rfm if t.kind == "rfm"]
        segments = [t for t in rfm if getattr(t, "score", None) == "segment"]
        if segment_tag is not None:
            segments = [t for t in segments if t.name == segment_tag]
            if not segments:
                raise NotFoundError(
                    f"no built RFM segment tag named '{segment_tag}'",
                    hint="define one (kind: rfm, score: segment) and run portrait build; "
                    "see docs/tags.md",
                )
        if not segments:
            return self._rfm_on_the_fly(rfm_definition())
        return self._rfm_from_tags(segments[0], rfm)

    def _rfm_from_tags(self, seg: Any, rfm: list[Any]) -> list[dict[str, Any]]:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from portrait.analysis.rfm import segment_rows

        same = {
            getattr(t, "score", ""): t.name
            for t in rfm
            if (getattr(t, "window", None), getattr(t, "scores", None), getattr(t, "where", None))
            == (
                getattr(seg, "window", None),
                getattr(seg, "scores", None),
                getattr(seg, "where", None),
            )
        }
        columns = [seg.name, *(same[k] for k in "rfm" if k in same)]
        table = pq.read_table(self.built.profile_file, columns=columns)
        table = table.filter(pc.is_valid(table.column(seg.name)))
        aggregates = [(seg.name, "count")] + [(same[k], "mean") for k in "rfm" if k in same]
        grouped = table.group_by(seg.name).aggregate(aggregates)
        names = {f"{seg.name}_count": "users", seg.name: "segment"}
        names.update({f"{same[k]}_mean": f"avg_{k}" for k in "rfm" if k in same})
        return segment_rows(grouped.rename_columns([names[c] for c in grouped.column_names]))

    def _rfm_on_the_fly(self, definition: Any) -> list[dict[str, Any]]:
        from portrait.analysis.rfm import rfm_on_the_fly
        from portrait.engine import EngineSettings, open_engine

        as_of = self.built.as_of
        assert as_of is not None  # a built profile has one
        warehouse = self._built_warehouse()
        orders = warehouse.tables.get("orders")
        files = orders.paths(warehouse.path) if orders is not None and warehouse.path else []
        engine = open_engine(EngineSettings.from_config(self.config, self.layout.spill_dir))
        try:
            return rfm_on_the_fly(engine, files, definition, as_of)
        finally:
            engine.close()

    def _insight_tags(self, tags: list[str] | None, caller: Caller | None = None) -> list[str]:
        profile = self.selector().profile
        who = self._who(caller)
        if tags is not None and not who.sees_pii:
            named = sorted(set(tags) & self._pii_tags())
            if named:
                raise AccessError(
                    f"insight on personal data ({', '.join(named)}) is for the admin role",
                    where="--tags",
                    hint="pii tags are left out of insight unless an admin names them",
                )
        if tags is not None:
            unknown = [t for t in tags if t not in profile.tags]
            if unknown:
                from portrait.errors import suggest

                raise NotFoundError(
                    f"no built tag named '{unknown[0]}'",
                    hint=suggest(unknown[0], profile.tags) or "see 'portrait tags list'",
                )
            return list(tags)
        chosen = []
        for name, meta in profile.tags.items():
            # personal data and tags of near-unique values (a phone number) say nothing about
            # an audience; they are compared only when asked for by name
            if meta.pii:
                continue
            if (
                index_kind(meta.type) == "values"
                and profile.index.values(name).distinct > INSIGHT_MAX_VALUES
            ):
                continue
            chosen.append(name)
        return chosen

    def _sql_context(self, behaviour_source: str = "rollup") -> RuleSQL:
        from portrait.compile.rules import RuleSQL

        snap = self.built
        return RuleSQL(
            tag_types=snap.manifest.tag_types(),
            as_of=snap.as_of,
            behaviour_source="events" if behaviour_source == "events" else "rollup",
        )

    def rule_sql(self, rule: str | Rule, dialect: str = "duckdb") -> str:
        """The SQL selecting a rule's users from the profile and rollup tables, in ``dialect``."""
        from portrait.compile.rules import rule_query
        from portrait.compile.tags import check_dialect

        check_dialect(dialect)

        parsed = self.check_rule(rule)
        return rule_query(parsed, self._sql_context()).sql(dialect=dialect, pretty=True)

    def _built_warehouse(self) -> _warehouse.WarehouseSnapshot:
        """The warehouse version the live profile was built from (its events are the rollup's),
        while it is kept; else the live one."""
        version = self.built.manifest.warehouse_version
        warehouse = _warehouse.snapshot(self.layout, str(version)) if version else None
        return warehouse if warehouse is not None and warehouse.path else self.warehouse

    def _sql_members(self, rule: Rule, behaviour_source: str) -> Any:
        from portrait.audience.sqlpath import SqlInputs, evaluate_sql
        from portrait.engine import EngineSettings, open_engine
        from portrait.profile.versions import GROUPS_FILE

        snap = self.built
        warehouse = self._built_warehouse()
        events = warehouse.tables.get("events")
        inputs = SqlInputs(
            profile_file=snap.profile_file,
            rollup_file=snap.rollup_file,
            rollup_groups_file=(
                snap.rollup_file.with_name(GROUPS_FILE) if snap.rollup_file else None
            ),
            rollup_sums=list(snap.manifest.rollup.sums if snap.manifest.rollup else []),
            events_files=events.paths(warehouse.path) if events and warehouse.path else [],
        )
        selector = self.selector()
        engine = open_engine(EngineSettings.from_config(self.config, self.layout.spill_dir))
        try:
            return evaluate_sql(
                rule,
                self._sql_context(behaviour_source),
                inputs,
                engine,
                selector.segment_members,
                selector.id_list_members,
                selector.campaign_members,
            )
        finally:
            engine.close()

    def _events_sql(self, cond: BehaviourCondition) -> Any:
        return self._sql_members(cond, "events")

    def select_sql(self, rule: str | Rule, *, behaviour_source: str = "rollup") -> Audience:
        """The same as :meth:`select`, computed by the SQL engine from the Parquet files
        (behaviour from the rollup table, or from the raw events with ``"events"``)."""
        parsed = self.check_rule(rule)
        members = self._sql_members(parsed, behaviour_source)
        snap = self.built
        population = snap.users
        return Audience(members, snap.profile_file, population, self._pii_tags)

    def _pii_tags(self) -> frozenset[str]:
        """Tags marked ``pii: true`` (when built, or in their definitions now), read again
        when the profile version or a tag file changes (every rule check asks)."""
        from portrait.store.tagfiles import load_tag_files

        snap = self.built
        files = sorted(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size)
            for p in self.layout.tags_dir.iterdir()
            if p.suffix in (".yaml", ".yml")
        )
        key = (snap.version, tuple(files))
        if self._pii_cache is None or self._pii_cache[0] != key:
            defined = load_tag_files(self.layout.tags_dir)
            found = frozenset(
                n for n in snap.tags if snap.tags[n].pii or (n in defined and defined[n].pii)
            )
            self._pii_cache = (key, found)
        return self._pii_cache[1]

    def _pii(self, names: list[str]) -> set[str]:
        return set(names) & self._pii_tags()

    def _masker(self, names: list[str], unmask: bool) -> Any:
        from portrait.model.pii import mask_column

        pii = set() if unmask else self._pii(names)

        def mask(table: pa.Table) -> pa.Table:
            for i, field in enumerate(table.schema):
                if field.name in pii:
                    table = table.set_column(i, field.name, mask_column(table.column(i)))
            return table

        return mask

    def _check_columns(self, columns: list[str] | None) -> list[str]:
        snap = self.built
        names = list(columns or [])
        unknown = [c for c in names if c not in snap.tags]
        if unknown:
            raise NotFoundError(
                f"no built tag named '{unknown[0]}'", hint="see 'portrait tags list'"
            )
        return names

    def export_audience(
        self,
        audience: Audience | str,
        output: str | os.PathLike[str],
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> int:
        """Stream an audience (or a segment, by name) to .csv/.parquet: ``user_id`` and the
        given tag columns, PII masked unless ``unmask``. Returns rows written."""
        self._user_level(caller, unmask, "an audience's members")
        from portrait.audience.export import export_members, output_format

        names = self._check_columns(columns)
        out = Path(output)
        output_format(out)
        members = self.segments.members(audience) if isinstance(audience, str) else audience.bitmap
        return export_members(
            self.built.profile_file, members, out, names, self._masker(names, unmask)
        )

    def sample(
        self,
        segment: str,
        n: int,
        *,
        seed: int = 0,
        columns: list[str] | None = None,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> pa.Table:
        """``n`` random members of a segment (the same for the same seed), with tag columns."""
        self._user_level(caller, unmask, "a segment's members")

        from portrait.audience.export import take_rows

        names = self._check_columns(columns)
        uids = self.segments.sample(segment, n, seed)
        table = take_rows(self.built.profile_file, uids, ["user_id", *names])
        return self._masker(names, unmask)(table)

    def status(self) -> dict[str, Any]:
        """Tables loaded, profile built, as-of date and settings in force."""
        warehouse = self.warehouse
        snap = self.built
        return {
            "workspace": str(self.root),
            "warehouse_version": warehouse.version,
            "tables": {
                n: {"rows": t.rows, "columns": len(t.columns), "version": t.version}
                for n, t in warehouse.tables.items()
            },
            "profile_version": snap.version,
            "as_of": snap.as_of.isoformat() if snap.as_of else None,
            "users": snap.users if snap.path else None,
            "tags_built": len(snap.tags),
            "built_at": snap.manifest.built_at,
        }

    def settings(self) -> list[dict[str, Any]]:
        """Every setting with its value and where the value came from."""
        return [
            {
                "name": s.name,
                "value": self.config[s.name],
                "source": self.config.sources[s.name],
                "env": s.env,
                "help": s.help,
            }
            for s in SETTINGS
        ]


def init(path: str | os.PathLike[str]) -> Workspace:
    """Create an empty workspace folder and open it."""
    root = Path(path)
    Layout(root).create()
    return Workspace(root)


def open_workspace(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    role: str | None = None,
    actor: str | None = None,
) -> Workspace:
    """Open the workspace at ``path`` (default: ``$PORTRAIT_WORKSPACE`` or the current folder).

    ``overrides`` set settings by name and win over the file and the environment, e.g.
    ``portrait.open("ws", overrides={"data.as_of": "2026-10-01"})``. ``role`` (default
    ``privacy.local_role``) and ``actor`` (default the OS user) say who acts: a viewer's
    numbers are released under disclosure control (docs/privacy.md), as over HTTP.
    """
    return Workspace(resolve_root(path), overrides=overrides, role=role, actor=actor)


def create_demo(
    path: str | os.PathLike[str],
    *,
    users: int = 200_000,
    seed: int = 7,
    keep_data: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Create a demo workspace: generate data, load it through ingest, build every tag.

    Returns a summary (counts, timings, a few tag distributions).
    """
    import shutil
    import time
    from importlib import resources

    from portrait.demo.generate import generate

    root = Path(path)
    Layout(root).create()
    config_text = Layout(root).config_file.read_text(encoding="utf-8")
    # Demo timestamps are UTC; local time (dayparts) is Beijing time.
    Layout(root).config_file.write_text(
        config_text.replace('# timezone = "UTC"', 'timezone = "Asia/Shanghai"'), encoding="utf-8"
    )
    for item in resources.files("portrait.demo").joinpath("tags").iterdir():
        if item.name.endswith(".yaml"):
            (root / "tags" / item.name).write_text(
                item.read_text(encoding="utf-8"), encoding="utf-8"
            )
    ws = Workspace(root)
    data_dir = root / "demo-data"
    t0 = time.perf_counter()
    data = generate(data_dir, users=users, seed=seed, progress=progress)
    t1 = time.perf_counter()
    ws.ingest("users", list(data.users_paths), progress=progress)
    for part in data.events_paths:  # one batch per part keeps memory bounded at any scale
        ws.ingest("events", part, progress=progress)
    ws.ingest("orders", list(data.orders_paths), progress=progress)
    t2 = time.perf_counter()
    report = ws.build(progress=progress)
    t3 = time.perf_counter()
    if not keep_data:
        shutil.rmtree(data_dir, ignore_errors=True)
    catalog = ws.tags
    distributions = {}
    for name in ("age_band", "city", "visit_daypart", "active_lines_360d", "value_tier"):
        if name in catalog:
            info = catalog[name]
            distributions[f"{name} ({info.definition.title})"] = info.stats.get("distribution", [])[
                :8
            ]
    return {
        "workspace": str(root),
        "as_of": report.as_of,
        "users": data.users,
        "events": data.events,
        "orders": data.orders,
        "tags_built": len(report.computed),
        "generate_seconds": t1 - t0,
        "ingest_seconds": t2 - t1,
        "build_seconds": t3 - t2,
        "build_timings": report.timings,
        "distributions": distributions,
    }
