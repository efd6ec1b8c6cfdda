"""The workspace methods notebooks and scripts know (``ws.count``, ``ws.insight``, …), each a
one-line delegate to the service that holds it (:mod:`portrait.workspace.root`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.model.access import Caller
from portrait.model.rules import Rule
from portrait.progress import Progress

if TYPE_CHECKING:
    import pyarrow as pa

    from portrait.access import Audit, Keys
    from portrait.access.disclosure import Disclosure
    from portrait.analysis import InsightReport
    from portrait.audience.audience import Audience
    from portrait.ingest import IngestReport
    from portrait.profile import BuildReport
    from portrait.profile.catalog import TagCatalog
    from portrait.workspace.access import AccessService
    from portrait.workspace.audiences import AudienceService, AudienceSpec
    from portrait.workspace.campaigning import CampaignService
    from portrait.workspace.catalog import CatalogService
    from portrait.workspace.data import DataService
    from portrait.workspace.insights import InsightService
    from portrait.workspace.users import UserService


class Delegates:
    """The flat methods of :class:`portrait.workspace.Workspace`."""

    if TYPE_CHECKING:  # the services, made by the composition root

        @property
        def data(self) -> DataService: ...
        @property
        def catalog(self) -> CatalogService: ...
        @property
        def audiences(self) -> AudienceService: ...
        @property
        def insights(self) -> InsightService: ...
        @property
        def users(self) -> UserService: ...
        @property
        def campaigns(self) -> CampaignService: ...
        @property
        def access(self) -> AccessService: ...

    # -- data ------------------------------------------------------------------------------
    def ingest(
        self,
        table: str,
        path: str | os.PathLike[str] | list[Path],
        *,
        mapping: Mapping[str, str] | None = None,
        on_error: str | None = None,
        fmt: str | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Load a users, events or orders file (:meth:`DataService.ingest`)."""
        return self.data.ingest(
            table, path, mapping=mapping, on_error=on_error, fmt=fmt, progress=progress
        )

    def build(
        self, *, full: bool = False, tags: list[str] | None = None, progress: Progress | None = None
    ) -> BuildReport:
        """Compute changed tags, then refresh segments (:meth:`DataService.build`)."""
        return self.data.build(full=full, tags=tags, progress=progress)

    def status(self) -> dict[str, Any]:
        """Tables loaded, profile built, as-of date (:meth:`DataService.status`)."""
        return self.data.status()

    def settings(self) -> list[dict[str, Any]]:
        """Every setting and where its value came from (:meth:`DataService.settings`)."""
        return self.data.settings()

    # -- access ----------------------------------------------------------------------------
    @property
    def keys(self) -> Keys:
        """API keys (roles, hashed secrets, revocation): ``ws.keys.create("analyst")``."""
        return self.access.keys

    @property
    def audit(self) -> Audit:
        """The audit log of user-level reads, exports and campaign actions."""
        return self.access.audit

    @property
    def disclosure(self) -> Disclosure:
        """The disclosure policy: what numbers reach a caller (docs/privacy.md)."""
        return self.access.disclosure

    # -- the catalog -----------------------------------------------------------------------
    @property
    def tags(self) -> TagCatalog:
        """The tag catalog (:attr:`CatalogService.tags`)."""
        return self.catalog.tags

    def tag_summaries(
        self, category: str | None = None, caller: Caller | None = None
    ) -> list[dict[str, Any]]:
        return self.catalog.summaries(category, caller)

    def tag_detail(
        self, name: str, dialect: str = "duckdb", caller: Caller | None = None
    ) -> dict[str, Any]:
        return self.catalog.detail(name, dialect, caller)

    def tag_sql(self, name: str, dialect: str = "duckdb") -> str:
        return self.catalog.sql(name, dialect)

    # -- audiences -------------------------------------------------------------------------
    def check_rule(self, rule: str | Rule, caller: Caller | None = None) -> Rule:
        return self.audiences.check_rule(rule, caller)

    def select(
        self, rule: str | Rule, *, cache: bool = True, caller: Caller | None = None
    ) -> Audience:
        """The users a rule selects now (:meth:`AudienceService.select`)."""
        return self.audiences.select(rule, cache=cache, caller=caller)

    def count(
        self, rule: str | Rule, *, cache: bool = True, caller: Caller | None = None
    ) -> dict[str, Any]:
        """The size of a rule's audience (:meth:`AudienceService.count`)."""
        return self.audiences.count(rule, cache=cache, caller=caller)

    def audience(self, spec: AudienceSpec, caller: Caller | None = None) -> Audience:
        return self.audiences.audience(spec, caller)

    def rule_sql(self, rule: str | Rule, dialect: str = "duckdb") -> str:
        return self.audiences.rule_sql(rule, dialect)

    def select_sql(self, rule: str | Rule, *, behaviour_source: str = "rollup") -> Audience:
        return self.audiences.select_sql(rule, behaviour_source=behaviour_source)

    def export_audience(
        self,
        audience: Audience | str,
        output: str | os.PathLike[str],
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> int:
        return self.audiences.export(audience, output, columns, unmask=unmask, caller=caller)

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
        return self.audiences.sample(
            segment, n, seed=seed, columns=columns, unmask=unmask, caller=caller
        )

    def segment_info(self, name: str, caller: Caller | None = None) -> dict[str, Any]:
        return self.audiences.segments.info(name, caller)

    def segment_list(self, caller: Caller | None = None) -> list[dict[str, Any]]:
        return self.audiences.segments.all(caller)

    def segment_history(self, name: str, caller: Caller | None = None) -> list[dict[str, Any]]:
        return self.audiences.segments.history(name, caller)

    def segment_overlap(self, a: str, b: str, caller: Caller | None = None) -> dict[str, Any]:
        return self.audiences.segments.overlap(a, b, caller)

    # -- insight ---------------------------------------------------------------------------
    def insight(
        self,
        target: AudienceSpec,
        *,
        baseline: AudienceSpec | None = None,
        tags: list[str] | None = None,
        include_missing: bool = False,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> InsightReport:
        """Insight: TGI of every tag value (:meth:`InsightService.insight`)."""
        return self.insights.insight(
            target,
            baseline=baseline,
            tags=tags,
            include_missing=include_missing,
            min_count=min_count,
            caller=caller,
        )

    def distinctive(
        self,
        target: AudienceSpec,
        *,
        baseline: AudienceSpec | None = None,
        top: int = 10,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        return self.insights.distinctive(
            target, baseline=baseline, top=top, min_count=min_count, caller=caller
        )

    def cross(
        self,
        audiences: Sequence[AudienceSpec] | None = None,
        *,
        min_support: float = 0.0,
        min_confidence: float = 0.0,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        return self.insights.cross(
            audiences, min_support=min_support, min_confidence=min_confidence, caller=caller
        )

    def cross_insight(
        self,
        a: AudienceSpec,
        b: AudienceSpec,
        *,
        tags: list[str] | None = None,
        min_count: int = 30,
        caller: Caller | None = None,
    ) -> InsightReport:
        return self.insights.cross_insight(a, b, tags=tags, min_count=min_count, caller=caller)

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
        return self.insights.association_rules(
            min_support=min_support,
            min_confidence=min_confidence,
            basket=basket,
            item=item,
            max_size=max_size,
            caller=caller,
        )

    def frequent_itemsets(
        self,
        *,
        min_support: float = 0.01,
        basket: str = "orders",
        item: str | None = None,
        max_size: int = 4,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        return self.insights.frequent_itemsets(
            min_support=min_support, basket=basket, item=item, max_size=max_size, caller=caller
        )

    def rfm_report(
        self,
        segment_tag: str | None = None,
        *,
        window: str | None = None,
        scores: int | None = None,
        caller: Caller | None = None,
    ) -> list[dict[str, Any]]:
        return self.insights.rfm_report(segment_tag, window=window, scores=scores, caller=caller)

    # -- users -----------------------------------------------------------------------------
    def profile(
        self,
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> pa.Table:
        """The built profile (:meth:`UserService.profile`)."""
        return self.users.profile(columns, unmask=unmask, caller=caller)

    def export_profile(
        self,
        output: str | os.PathLike[str],
        columns: list[str] | None = None,
        *,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> int:
        return self.users.export_profile(output, columns, unmask=unmask, caller=caller)

    def user(
        self,
        user_id: str,
        *,
        events: int = 20,
        unmask: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """One user's 360 view (:meth:`UserService.user`)."""
        return self.users.user(user_id, events=events, unmask=unmask, caller=caller)

    def user_ids_of(self, uids: Sequence[int]) -> list[str]:
        return self.users.user_ids_of(uids)

    def uid_of(self, user_id: str) -> int:
        return self.users.uid_of(user_id)

    def segments_of(self, user_id: str, caller: Caller | None = None) -> list[str]:
        return self.users.segments_of(user_id, caller)

    def membership(
        self, user_ids: Sequence[str], segments: Sequence[str], caller: Caller | None = None
    ) -> dict[str, dict[str, bool] | None]:
        return self.users.membership(user_ids, segments, caller)

    # -- campaigns -------------------------------------------------------------------------
    def campaign_dry_run(
        self, name: str, *, samples: int = 3, caller: Caller | None = None
    ) -> dict[str, Any]:
        return self.campaigns.dry_run(name, samples=samples, caller=caller)
