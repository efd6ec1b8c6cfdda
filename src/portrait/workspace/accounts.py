"""``ws.accounts``: console user accounts and sign-in sessions.

Signing in, looking a session up and signing out are for anyone holding the credentials;
creating, listing and changing accounts is for callers who may manage access (``keys:manage``:
admins). Every change and every sign-in is audited (actor ``user:<name>``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from portrait.errors import InputError, PortraitError
from portrait.model.access import Account, Caller, Session

if TYPE_CHECKING:
    from portrait.access.accounts import Accounts
    from portrait.workspace.root import Workspace


class AccountService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    @cached_property
    def store(self) -> Accounts:
        from portrait.access.accounts import Accounts

        config = self._ws.config
        return Accounts(
            self._ws.metadata,
            idle_timeout=float(config["console.idle_timeout"]),
            lifetime=float(config["console.session_lifetime"]),
            max_failures=int(config["console.max_failures"]),
        )

    # -- signing in -------------------------------------------------------------------------
    def sign_in(self, name: str, password: str) -> tuple[str, Session]:
        """A new session (the cookie's token, shown once, and the session), audited; wrong
        names and passwords are refused alike, and throttled after repeated failures."""
        try:
            token, session = self.store.sign_in(name, password)
        except PortraitError as error:
            # the name is only recorded when it is an account's (no passwords typed into
            # the name field land in the log)
            known = name if self.store.repo.account(name) is not None else "?"
            self._ws.access.audit.record(f"user:{known}", "console:sign-in-refused", error.code, 0)
            raise
        self._ws.access.record(session.caller, "console:sign-in", name)
        return token, session

    def session(self, token: str) -> Session | None:
        """The live session of a cookie's token, or None."""
        return self.store.session(token)

    def sign_out(self, token: str) -> None:
        session = self.store.session(token)
        self.store.sign_out(token)
        if session is not None:
            self._ws.access.record(session.caller, "console:sign-out", session.account.name)

    # -- managing accounts (admins) -----------------------------------------------------------
    def all(self, caller: Caller | None = None) -> list[dict[str, Any]]:
        self._ws.access.permit(caller, "keys:manage", "list user accounts")
        return [a.to_dict() | {"active": a.active} for a in self.store.all()]

    def create(self, name: str, role: str, password: str, caller: Caller | None = None) -> Account:
        who = self._ws.access.permit(caller, "keys:manage", "create user accounts")
        account = self.store.create(name, role, password)
        self._ws.access.record(who, "account:create", f"{name} ({role})")
        return account

    def disable(self, name: str, caller: Caller | None = None) -> Account:
        who = self._ws.access.permit(caller, "keys:manage", "disable user accounts")
        self._keep_an_admin(who, name, "disable")
        account = self.store.disable(name)
        self._ws.access.record(who, "account:disable", name)
        return account

    def enable(self, name: str, caller: Caller | None = None) -> Account:
        who = self._ws.access.permit(caller, "keys:manage", "enable user accounts")
        account = self.store.enable(name)
        self._ws.access.record(who, "account:enable", name)
        return account

    def set_role(self, name: str, role: str, caller: Caller | None = None) -> Account:
        who = self._ws.access.permit(caller, "keys:manage", "change roles")
        if role != "admin":
            self._keep_an_admin(who, name, "take the admin role from")
        account = self.store.set_role(name, role)
        self._ws.access.record(who, "account:role", f"{name} ({role})")
        return account

    def _keep_an_admin(self, who: Caller, name: str, action: str) -> None:
        """Refuse what would lock the console out of administration: an admin changing their
        own account so, or the last active admin losing the role."""
        if who.actor == f"user:{name}":
            raise InputError(
                f"you may not {action} your own account",
                where="name",
                hint="ask another admin, or use 'portrait users' on the command line",
            )
        account = self.store.get(name)
        if account.role == "admin" and account.active:
            others = [
                a for a in self.store.all() if a.role == "admin" and a.active and a.name != name
            ]
            if not others:
                raise InputError(
                    f"'{name}' is the last active admin",
                    where="name",
                    hint="make another user admin first",
                )

    def reset_password(self, name: str, password: str, caller: Caller | None = None) -> Account:
        who = self._ws.access.permit(caller, "keys:manage", "reset passwords")
        account = self.store.reset_password(name, password)
        self._ws.access.record(who, "account:reset-password", name)
        return account
