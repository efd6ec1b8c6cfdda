"""The request bodies the routes declare (validated by FastAPI; a mismatch is a 422 in the
error shape of every route, :func:`portrait.api.errors.invalid_response`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_RULE = 20_000
"""Characters of a rule at most (the rule language's own limit)."""
MAX_MEMBERSHIP = 1000
"""User ids per membership request at most."""


class CountRequest(BaseModel):
    rule: str = Field(min_length=1, max_length=MAX_RULE, description='A rule, e.g. city = "北京".')


class SegmentRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    rule: str = Field(min_length=1, max_length=MAX_RULE)
    mode: str = "dynamic"
    description: str = ""
    expected_version: str | None = Field(
        default=None,
        max_length=64,
        description="Replace the segment only if its updated_at is still this (else 409).",
    )


class InsightRequest(BaseModel):
    target: str = Field(min_length=1, max_length=MAX_RULE, description="A segment or a rule.")
    baseline: str | None = None
    tags: list[str] | None = None
    min_count: int = Field(default=30, ge=0)
    top: int = Field(default=30, ge=0, le=10_000)
    chart: bool = False


class RankRequest(BaseModel):
    target: str | None = Field(
        default=None, min_length=1, max_length=MAX_RULE, description="A segment or a rule."
    )
    metric: str | None = Field(default=None, description="Or a numeric tag to rank against.")
    baseline: str | None = Field(default=None, description="The universe (default all users).")
    tags: list[str] | None = None
    by: str = Field(default="mutual_info", description="mutual_info, cramers_v, association, …")
    include_circular: bool = False
    min_count: int = Field(default=30, ge=0)
    top: int = Field(default=30, ge=0, le=10_000)
    chart: bool = False


class NicheRequest(BaseModel):
    tags: list[str] | None = Field(default=None, description="2–4 tags (default: top-ranked).")
    target: str | None = Field(default=None, max_length=MAX_RULE, description="Rate of this.")
    metric: str | None = Field(default=None, description="Or the mean of this numeric tag.")
    baseline: str | None = None
    max_values: int = Field(default=12, ge=1, le=100)
    groups: int = Field(default=8, ge=1, le=50)
    highlight_share: float = Field(default=0.05, gt=0, le=1)
    highlight_lift: float = Field(default=1.5, gt=0)
    top: int = Field(default=0, ge=0, le=100_000, description="Cells returned (0: all).")
    chart: bool = False


class SubgroupsRequest(BaseModel):
    target: str = Field(min_length=1, max_length=MAX_RULE, description="A segment or a rule.")
    baseline: str | None = None
    tags: list[str] | None = None
    depth: int = Field(default=3, ge=1, le=4)
    beam: int = Field(default=20, ge=1, le=500)
    top: int = Field(default=10, ge=1, le=200)
    min_support: float = Field(default=0.01, gt=0)
    quality: str = Field(default="wracc", description="wracc or lift (Klösgen).")
    max_values: int = Field(default=12, ge=1, le=100)
    include_circular: bool = False


class PersonaFitRequest(BaseModel):
    name: str = Field(min_length=1, max_length=63, description="The persona tag to write.")
    features: list[str] = Field(min_length=1, max_length=50)
    k: int | None = Field(default=None, ge=2, le=50, description="Default: best silhouette.")
    k_min: int = Field(default=2, ge=2, le=50)
    k_max: int = Field(default=10, ge=2, le=50)
    sample: int = Field(default=50_000, ge=100, le=1_000_000)
    seed: int = 0
    title: str = ""
    replace: bool = False


class PersonaLabelRequest(BaseModel):
    persona: str = Field(description="P1 … Pk.")
    name: str | None = None
    description: str | None = None


class ReplaceRequest(BaseModel):
    replace: bool = False


class CubeRequest(BaseModel):
    definition: dict[str, Any] = Field(description="The cube: name, dimensions, needs.")
    replace: bool = False


class CubeNeedRequest(BaseModel):
    cell: dict[str, str] = Field(min_length=1, description="dimension → member")
    need: str = Field(min_length=1, max_length=500)
    item: str = ""
    remove: bool = False


class CubeSegmentRequest(BaseModel):
    cell: dict[str, str] = Field(min_length=1)
    segment: str = Field(min_length=1, max_length=64)
    replace: bool = False


class CubeCampaignRequest(BaseModel):
    cell: dict[str, str] = Field(min_length=1)
    campaign: str = Field(min_length=1, max_length=64)
    channel: str = "file"
    control: int = Field(default=20, ge=5, le=50)


class CrossRequest(BaseModel):
    audiences: list[str] | None = None
    min_support: float = Field(default=0.0, ge=0, le=1)
    min_confidence: float = Field(default=0.0, ge=0, le=1)
    chart: bool = False


class ResponseEvent(BaseModel):
    campaign: str
    user_id: str
    response: str
    ts: str
    revenue: float | None = None


class ResponsesRequest(BaseModel):
    events: list[ResponseEvent] = Field(min_length=1, max_length=100_000)


class Assignment(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    group: str = Field(min_length=1, max_length=64)
    ts: str | None = None


class Outcome(BaseModel):
    """An outcome event (``response`` and ``ts``) or a user's outcomes (``clicked``,
    ``converted``, ``revenue``); one shape for all rows of a request."""

    user_id: str = Field(min_length=1, max_length=256)
    response: str | None = None
    ts: str | None = None
    clicked: bool | None = None
    converted: bool | None = None
    revenue: float | None = None


class ImportRequest(BaseModel):
    weights: dict[str, float] = Field(min_length=1, max_length=26)
    assignments: list[Assignment] = Field(min_length=1, max_length=1_000_000)
    outcomes: list[Outcome] | None = Field(default=None, max_length=2_000_000)
    started_at: str | None = None
    attribution_days: int = Field(default=7, ge=1, le=90)
    conversion_event: str | None = None
    metrics: list[str] = Field(default_factory=list, max_length=20)
    replace: bool = False


class PlanSizeRequest(BaseModel):
    baseline: float
    effect: float = Field(description="Absolute, or a share of the baseline when relative.")
    relative: bool = False
    weights: dict[str, float] = Field(default={"control": 50, "A": 50}, min_length=2)
    sd: float | None = None
    alpha: float = 0.05
    power: float = 0.8
    correction: str = "holm"


class MembershipRequest(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=MAX_MEMBERSHIP)
    segments: list[str] = Field(min_length=1, max_length=200)
