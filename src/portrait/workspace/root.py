"""The composition root: one open workspace, what its services share, and the services.

:class:`Workspace` holds the layout, the settings, who acts by default, the live profile
version (pinned for the length of a request when asked), the metadata database and the
engine factory; the capabilities are small services over it:

===================  ==========================================================
``ws.data``          ingest and build (:mod:`portrait.workspace.data`)
``ws.catalog``       the tag catalog and personal-data tags (:mod:`.catalog`)
``ws.audiences``     rules, counts, selections, segments as a caller sees them
``ws.insights``      insight, distinctive features, cross analysis, RFM, rules
``ws.users``         the profile, one user's 360 view, personalisation lookups
``ws.campaigns``     campaigns (``ws.campaigns()`` gives the :class:`Campaigns`)
``ws.access``        roles, disclosure control, masking and the audit log
===================  ==========================================================

The methods notebooks know (``ws.count``, ``ws.insight``, …) are one-line delegates to
these (:mod:`portrait.workspace.delegates`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.config import Config, load_config
from portrait.errors import InputError
from portrait.index.profile_index import ProfileIndex
from portrait.model.access import ROLES, Caller, Role
from portrait.store.layout import Layout
from portrait.workspace.access import AccessService
from portrait.workspace.accounts import AccountService
from portrait.workspace.audiences import AudienceService
from portrait.workspace.campaigning import CampaignService
from portrait.workspace.catalog import CatalogService
from portrait.workspace.cubes import CubeService
from portrait.workspace.data import DataService
from portrait.workspace.delegates import Delegates
from portrait.workspace.discovery import DiscoveryService
from portrait.workspace.insights import InsightService
from portrait.workspace.personas import PersonaService
from portrait.workspace.users import UserService

# Heavy parts (Arrow, the engine, the SQL compiler, the metadata database) are imported where
# they are used, so that `portrait count` starts fast.
if TYPE_CHECKING:
    from portrait.audience.segments import Segments
    from portrait.audience.selector import Selector
    from portrait.engine import Engine
    from portrait.index.ids import UserIdIndex
    from portrait.profile.versions import ProfileSnapshot
    from portrait.store.metadata import MetadataStore
    from portrait.store.versions import VersionedDir
    from portrait.store.warehouse import WarehouseSnapshot

WORKSPACE_ENV = "PORTRAIT_WORKSPACE"


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


class Workspace(Delegates):
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
        self._pin: ProfileSnapshot | None = None
        self._built: ProfileSnapshot | None = None
        self._profile_versions: VersionedDir | None = None
        self._index: ProfileIndex | None = None
        self._selector: Selector | None = None
        self._user_index: tuple[str, UserIdIndex] | None = None
        self._metadata: MetadataStore | None = None

    # -- the services --------------------------------------------------------------------
    @cached_property
    def data(self) -> DataService:
        return DataService(self)

    @cached_property
    def catalog(self) -> CatalogService:
        return CatalogService(self)

    @cached_property
    def audiences(self) -> AudienceService:
        return AudienceService(self)

    @cached_property
    def insights(self) -> InsightService:
        return InsightService(self)

    @cached_property
    def discovery(self) -> DiscoveryService:
        """Feature ranking, niche groups, subgroup discovery."""
        return DiscoveryService(self)

    @cached_property
    def cubes(self) -> CubeService:
        """Multi-level segment intersections with inferred needs (cubes/NAME.yaml)."""
        return CubeService(self)

    @cached_property
    def personas(self) -> PersonaService:
        """Clustering personas as tags: fit, cards, names, one segment per persona."""
        return PersonaService(self)

    @cached_property
    def users(self) -> UserService:
        return UserService(self)

    @cached_property
    def campaigns(self) -> CampaignService:
        """Campaigns: ``ws.campaigns()`` gives the campaigns of this workspace; the service
        adds the audited actions the surfaces call."""
        return CampaignService(self)

    @cached_property
    def access(self) -> AccessService:
        return AccessService(self)

    @cached_property
    def accounts(self) -> AccountService:
        """Console user accounts and sign-in sessions."""
        return AccountService(self)

    def who(self, caller: Caller | None) -> Caller:
        """``caller``, or the workspace's own when None."""
        return self.caller if caller is None else caller

    # -- what the services share -----------------------------------------------------------
    @property
    def warehouse(self) -> WarehouseSnapshot:
        """The live warehouse version."""
        from portrait.store.warehouse import snapshot

        return snapshot(self.layout)

    @property
    def built(self) -> ProfileSnapshot:
        """The live profile version (its manifest is read once per version: versions are
        immutable, only the CURRENT pointer moves); inside :meth:`pinned`, the version live
        when it began."""
        from portrait.profile.versions import profile_dir, profile_snapshot

        if self._pin is not None:
            return self._pin
        if self._profile_versions is None:
            self._profile_versions = profile_dir(self.layout)
        current = self._profile_versions.current()
        if self._built is None or self._built.path != current:
            self._built = profile_snapshot(self.layout)
        return self._built

    @contextlib.contextmanager
    def pinned(self) -> Iterator[ProfileSnapshot]:
        """Every read inside sees the profile version live when it began (a build finishing
        meanwhile does not mix two versions into one answer)."""
        if self._pin is not None:
            yield self._pin
            return
        self._pin = self.built
        try:
            yield self._pin
        finally:
            self._pin = None

    def built_warehouse(self) -> WarehouseSnapshot:
        """The warehouse version the live profile was built from (its events are the rollup's),
        while it is kept; else the live one."""
        from portrait.store.warehouse import snapshot

        version = self.built.manifest.warehouse_version
        warehouse = snapshot(self.layout, str(version)) if version else None
        return warehouse if warehouse is not None and warehouse.path else self.warehouse

    @contextlib.contextmanager
    def engine(self) -> Iterator[Engine]:
        """A session of the configured engine, closed after use."""
        from portrait.engine import open_engine, settings_from_config

        engine = open_engine(settings_from_config(self.config, self.layout.spill_dir))
        try:
            yield engine
        finally:
            engine.close()

    def index(self) -> ProfileIndex:
        """The bitmap index of the built profile (a value or range index per tag); kept open
        while the profile version stays the same."""
        snap = self.built
        if self._index is None or self._index.index_dir != snap.index_dir:
            self._index = ProfileIndex(snap.index_dir, snap.manifest.tag_types(), snap.users)
        return self._index

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
            self._selector = Selector(profile, lambda: self.metadata, self.audiences.events_sql)
        return self._selector

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

    def has_metadata(self) -> bool:
        """Whether the metadata database exists (or is configured): reads that would only
        find it empty do not create it."""
        return (
            self._metadata is not None
            or bool(self.config["store.metadata_url"])
            or (self.layout.meta_dir / "portrait.db").exists()
        )

    @property
    def metadata(self) -> MetadataStore:
        """The metadata database (segments, snapshots, ID lists, campaigns, keys, audit),
        opened on first use."""
        from portrait.store.metadata import MetadataStore, open_database

        if self._metadata is None:
            url = self.config["store.metadata_url"]
            self._metadata = MetadataStore(open_database(url, self.layout.meta_dir))
        return self._metadata

    @cached_property
    def segments(self) -> Segments:
        """Saved segments and uploaded ID lists: ``ws.segments.create("vip", 'value_tier = "高"')``."""
        import pyarrow.parquet as pq

        from portrait.audience.segments import Segments

        return Segments(
            self.metadata,
            self.selector,
            self.audiences.check_rule,
            lambda: pq.read_table(self.built.profile_file, columns=["user_id"]).column(0),
            self.layout.rejects_dir / "ids",
        )

    # -- serving ---------------------------------------------------------------------------
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
        saved segment's members) ahead of the first request, and the code every request
        kind runs (the analyses and campaigns import SciPy: seconds on a busy machine, which
        the first 360 view would otherwise wait for)."""
        import portrait.analysis.user360
        import portrait.campaigns  # noqa: F401

        self.user_index()
        self.index()
        if self.has_metadata():
            self.segments.containing([])

    def close(self) -> None:
        """Write what is waiting (grouped audit entries) and close the metadata database."""
        self.access.close()
        if self._metadata is not None:
            self._metadata.engine.dispose()


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
