"""Roles and what they may do (the HTTP API's access rules; no I/O).

Roles are ordered: each one may do what the one before it may, and more.

- ``viewer``: the tag catalog and aggregates (counts, insight, reports) under disclosure
  control: small cells suppressed, counts noisy, a daily privacy budget (see
  :mod:`portrait.access.disclosure`);
- ``analyst``: + exact aggregates, user-level reads (a user's profile and segments,
  membership, members, exports) with personal data masked;
- ``marketer``: + campaigns;
- ``admin``: + API keys, the audit log and unmasked personal data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["viewer", "analyst", "marketer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "marketer", "admin")

#: permission → the lowest role that has it
PERMISSIONS: dict[str, Role] = {
    "catalog:read": "viewer",
    "aggregate:read": "viewer",
    "segments:read": "viewer",
    "aggregate:exact": "analyst",
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


@dataclass(frozen=True)
class RuleLimits:
    """The most a rule may ask of the engine, by role: one low-role request must not hold the
    workspace (each property-filtered behaviour condition scans the raw events)."""

    conditions: int
    property_filters: int
    list_values: int


RULE_LIMITS: dict[Role, RuleLimits] = {
    "viewer": RuleLimits(conditions=64, property_filters=2, list_values=1_000),
    "analyst": RuleLimits(conditions=256, property_filters=8, list_values=100_000),
    "marketer": RuleLimits(conditions=256, property_filters=8, list_values=100_000),
    "admin": RuleLimits(conditions=1_024, property_filters=32, list_values=1_000_000),
}


@dataclass(frozen=True)
class Caller:
    """Who asks: an API key's id (or a console user, or the OS user of a local command) and
    its role. Every facade call that releases numbers or user data decides what to show by
    this, so every surface shows the same."""

    actor: str
    role: Role

    def can(self, permission: str) -> bool:
        return allows(self.role, permission)

    @property
    def exact(self) -> bool:
        """Whether aggregates reach this caller exact (else under disclosure control)."""
        return self.can("aggregate:exact")

    @property
    def rule_limits(self) -> RuleLimits:
        return RULE_LIMITS[self.role]

    @property
    def sees_pii(self) -> bool:
        """Whether personal data (``pii`` tags) may reach this caller unmasked, and be named
        in its rules."""
        return self.can("pii:unmasked")


@dataclass(frozen=True)
class KeyInfo:
    """An API key as stored (never its secret): who it is for, its role, its lifetime."""

    id: str
    name: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def caller(self) -> Caller:
        """Who calls with this key, for the facade's disclosure and access decisions."""
        for role in ROLES:
            if role == self.role:
                return Caller(self.id, role)
        return Caller(self.id, "viewer")  # an unknown role gets the least

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "expires_at": self.expires_at.isoformat(timespec="seconds")
            if self.expires_at
            else None,
            "revoked_at": self.revoked_at.isoformat(timespec="seconds")
            if self.revoked_at
            else None,
        }


@dataclass(frozen=True)
class Account:
    """A console user account as stored (never its password): name, role, state."""

    name: str
    role: str
    created_at: dt.datetime
    password_at: dt.datetime
    disabled_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def caller(self) -> Caller:
        """Who acts when this account is signed in: ``user:<name>`` with its role."""
        role: Role = "viewer"  # an unknown role gets the least
        for known in ROLES:
            if known == self.role:
                role = known
        return Caller(f"user:{self.name}", role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "password_changed_at": self.password_at.isoformat(timespec="seconds"),
            "disabled_at": self.disabled_at.isoformat(timespec="seconds")
            if self.disabled_at
            else None,
        }


@dataclass(frozen=True)
class Session:
    """A signed-in console session: the account, the caller it acts as, and the token every
    state-changing request must echo (CSRF)."""

    account: Account
    csrf: str
    created_at: dt.datetime
    seen_at: dt.datetime

    @property
    def caller(self) -> Caller:
        return self.account.caller
