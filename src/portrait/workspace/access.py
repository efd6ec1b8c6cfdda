"""``ws.access``: who may do what, decided once for every surface.

Roles and permissions (:mod:`portrait.model.access`), what a rule may ask by role, personal
data masking, the disclosure policy (:mod:`portrait.access.disclosure`) and the audit log.
Every service checks its caller here; no shell decides any of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from portrait.errors import AccessError, InputError, LimitError
from portrait.model.access import PERMISSIONS, Caller, KeyInfo
from portrait.model.rules import Rule

if TYPE_CHECKING:
    import pyarrow as pa

    from portrait.access import Audit, Keys
    from portrait.access.disclosure import Disclosure
    from portrait.audience.selector import RuleFacts
    from portrait.workspace.root import Workspace


class AccessService:
    def __init__(self, ws: Workspace):
        self._ws = ws
        self._keys: Keys | None = None
        self._audit: Audit | None = None
        self._disclosure: Disclosure | None = None

    @property
    def keys(self) -> Keys:
        """API keys (roles, hashed secrets, revocation): ``ws.keys.create("analyst")``."""
        from portrait.access import Keys

        if self._keys is None:
            self._keys = Keys(self._ws.metadata)
        return self._keys

    @property
    def audit(self) -> Audit:
        """The audit log of user-level reads, exports and campaign actions."""
        from portrait.access import Audit

        if self._audit is None:
            self._audit = Audit(self._ws.metadata)
        return self._audit

    @property
    def disclosure(self) -> Disclosure:
        """The disclosure policy: what numbers reach a caller (docs/privacy.md)."""
        from portrait.access.disclosure import Disclosure, Policy

        if self._disclosure is None:
            self._disclosure = Disclosure(
                Policy.from_config(self._ws.config), lambda: self._ws.metadata
            )
        return self._disclosure

    def managed_keys(self, caller: Caller | None = None) -> Keys:
        """The API keys, for a caller who may manage them (``keys:manage``)."""
        self.permit(caller, "keys:manage", "manage API keys")
        return self.keys

    def create_key(
        self,
        role: str,
        *,
        name: str = "",
        expires_days: int | None = None,
        caller: Caller | None = None,
    ) -> tuple[KeyInfo, str]:
        """A new API key with ``role`` (its info, and the full key, to be shown once), for a
        caller who may manage keys; audited (``key:create``, never the secret)."""
        who = self.permit(caller, "keys:manage", "manage API keys")
        info, secret = self.keys.create(role, name=name, expires_days=expires_days)
        self.record(who, "key:create", f"{info.id} ({info.role})")
        return info, secret

    def revoke_key(self, key_id: str, caller: Caller | None = None) -> KeyInfo:
        """Revoke an API key (requests with it are refused from now on); audited."""
        who = self.permit(caller, "keys:manage", "manage API keys")
        info = self.keys.revoke(key_id)
        self.record(who, "key:revoke", f"{info.id} ({info.role})")
        return info

    def audit_entries(
        self,
        limit: int = 100,
        actor: str | None = None,
        caller: Caller | None = None,
        *,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The latest ``limit`` (1 to 10,000) audit entries, newest first, for a caller who
        may read the audit log (``audit:read``): of ``actor`` and of ``action`` when given,
        written at ``since`` or later and before ``until`` (times without a zone are UTC)."""
        self.permit(caller, "audit:read", "read the audit log")
        if not 1 <= limit <= 10_000:
            raise InputError("limit is 1 to 10,000", where="limit")
        since, until = _aware(since), _aware(until)
        if since is not None and until is not None and since >= until:
            raise InputError(
                "the time range is empty: 'to' must be later than 'from'", where="until"
            )
        return self.audit.entries(
            limit=limit, actor=actor or None, action=action or None, since=since, until=until
        )

    def audit_actions(self, caller: Caller | None = None) -> list[str]:
        """The actions the audit log has entries of, for a caller who may read it."""
        self.permit(caller, "audit:read", "read the audit log")
        return self.audit.actions()

    def record(self, caller: Caller, action: str, target: str, rows: int = 0) -> None:
        """Write an audit entry: ``caller`` did ``action`` on ``target`` (``rows`` users or
        rows concerned)."""
        self.audit.record(caller.actor, action, target, rows)

    def require(self, caller: Caller | None, permission: str, what: str) -> Caller:
        """``caller`` (default: the workspace's), when its role has ``permission``."""
        who = self._ws.who(caller)
        if not who.can(permission):
            raise AccessError(
                f"role '{who.role}' may not read {what} (needs {permission}: "
                f"{PERMISSIONS[permission]} and above)",
                hint="aggregates (counts, insight, reports) are open to every role",
                needs=permission,
            )
        return who

    def permit(self, caller: Caller | None, permission: str, action: str) -> Caller:
        """``caller`` (default: the workspace's), when its role may do ``action`` (it has
        ``permission``)."""
        who = self._ws.who(caller)
        if not who.can(permission):
            raise AccessError(
                f"role '{who.role}' may not {action} (needs {permission}: "
                f"{PERMISSIONS[permission]} and above)",
                needs=permission,
            )
        return who

    def user_level(self, caller: Caller | None, unmask: bool, what: str) -> Caller:
        """``caller``, when it may read ``what`` (user-level data), unmasked if asked."""
        who = self.require(caller, "users:read", what)
        if unmask:
            self.require(who, "pii:unmasked", "unmasked personal data")
        return who

    def check_rule(self, rule: Rule, caller: Caller) -> None:
        """Refuse what ``caller``'s role may not ask: a rule larger than its limits
        (conditions, property filters, list values) or one naming personal data."""
        from portrait.audience.selector import rule_facts

        self.check_facts(rule_facts(rule), caller)

    def check_facts(self, facts: RuleFacts, caller: Caller) -> None:
        """:meth:`check_rule` on a rule's facts (its size and tags, worked out once)."""
        size, limits = facts.size, caller.rule_limits
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
        if not caller.sees_pii and facts.tags:
            named = sorted(facts.tags & self._ws.catalog.pii_tags())
            if named:
                raise AccessError(
                    f"the rule selects by personal data ({', '.join(named)}), which role "
                    f"'{caller.role}' may not",
                    hint="pii tags (and tags derived from them) may be used in rules by the "
                    "admin role only; see docs/privacy.md",
                )

    def masker(self, names: Sequence[str], unmask: bool) -> Callable[[pa.Table], pa.Table]:
        """A function masking the personal-data columns among ``names`` of a table (nothing
        when ``unmask``)."""
        from portrait.model.pii import mask_column

        pii = set() if unmask else set(names) & self._ws.catalog.pii_tags()

        def mask(table: pa.Table) -> pa.Table:
            for i, field in enumerate(table.schema):
                if field.name in pii:
                    table = table.set_column(i, field.name, mask_column(table.column(i)))
            return table

        return mask

    def privacy(self, caller: Caller) -> dict[str, Any] | None:
        """The policy note of a controlled answer (None for exact callers)."""
        from portrait.access import releases

        return releases.privacy(self.disclosure, caller)

    def close(self) -> None:
        """Write the audit entries still waiting."""
        if self._audit is not None:
            self._audit.close()


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A time with its zone (UTC when it has none)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)
