"""The audit log (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from portrait.api.deps import AuditKey, CoreDep

router = APIRouter(tags=["admin"])


@router.get("/v1/audit")
def audit(key: AuditKey, core: CoreDep, limit: int = 100) -> list[dict[str, Any]]:
    with core.hold() as w:
        return w.access.audit_entries(limit, caller=key.caller)
