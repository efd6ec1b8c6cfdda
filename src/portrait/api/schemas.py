"""The request bodies the routes declare (validated by FastAPI; a mismatch is a 422 in the
error shape of every route, :func:`portrait.api.errors.invalid_response`)."""

from __future__ import annotations

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


class InsightRequest(BaseModel):
    target: str = Field(min_length=1, max_length=MAX_RULE, description="A segment or a rule.")
    baseline: str | None = None
    tags: list[str] | None = None
    min_count: int = Field(default=30, ge=0)
    top: int = Field(default=30, ge=0, le=10_000)
    chart: bool = False


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


class MembershipRequest(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=MAX_MEMBERSHIP)
    segments: list[str] = Field(min_length=1, max_length=200)
