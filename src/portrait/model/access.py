"""Roles and what they may do (the HTTP API's access rules; no I/O).

Roles are ordered: each one may do what the one before it may, and more.

- ``viewer``: the tag catalog and aggregates (counts, insight, reports); small cells suppressed;
- ``analyst``: + user-level reads (a user's profile and segments, membership, members, exports)
  with personal data masked;
- ``marketer``: + campaigns;
- ``admin``: + API keys, the audit log and unmasked personal data.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["viewer", "analyst", "marketer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "marketer", "admin")

#: permission → the lowest role that has it
PERMISSIONS: dict[str, Role] = {
    "catalog:read": "viewer",
    "aggregate:read": "viewer",
    "segments:read": "viewer",
    "users:read": "analyst",
    "segments:write": "analyst",
    "campaigns:read": "marketer",
    "campaigns:write": "marketer",
    "pii:unmasked": "admin",
    "keys:manage": "admin",
    "audit:read": "admin",
}


def allows(role: str, permission: str) -> bool:
    """Whether ``role`` has ``permission`` (unknown roles have none)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(PERMISSIONS[permission])
