"""The audit log (admins)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter

from portrait.api.deps import AuditKey, CoreDep

router = APIRouter(tags=["admin"])


@router.get("/v1/audit")
def audit(
    key: AuditKey,
    core: CoreDep,
    limit: int = 100,
    actor: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` entries, newest first; of ``actor`` and ``action`` when given,
    written at ``since`` or later and before ``until`` (ISO 8601; UTC without a zone)."""
    with core.hold() as w:
        return w.access.audit_entries(
            limit, actor, key.caller, action=action, since=since, until=until
        )
