"""The tag catalog (标签市场)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from portrait.api.deps import CatalogKey, CoreDep

router = APIRouter(tags=["catalog"])


@router.get("/v1/tags")
def tags(key: CatalogKey, core: CoreDep) -> list[dict[str, Any]]:
    with core.hold() as w:
        return w.catalog.summaries(caller=key.caller)


@router.get("/v1/tags/{name}")
def tag(name: str, key: CatalogKey, core: CoreDep, dialect: str = "duckdb") -> dict[str, Any]:
    """One tag: definition, generated SQL, coverage, null rate and value distribution."""
    with core.hold() as w:
        return w.catalog.detail(name, dialect, caller=key.caller)
