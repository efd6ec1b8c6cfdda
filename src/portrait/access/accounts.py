"""Console user accounts and their sign-in sessions.

People sign in to the web console with a name and a password (API keys are for programs).
Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's second
recommended profile); a hash made with older parameters is replaced at the next sign-in.
A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, with
the CSRF token every state-changing request must echo. Sessions end when unused for
``console.idle_timeout`` seconds, after ``console.session_lifetime`` seconds in all, at sign-out,
and when the account's password, role or state changes.

Failed sign-ins are throttled: after ``console.max_failures`` failures in a row an account
waits 30 s before the next try, doubling with every further failure up to 15 minutes; a right
password during the wait is refused too (else the wait would not slow guessing). Names that
are no account are throttled the same way, in memory, and cost the same time to refuse, so
the answers do not tell which names exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portrait.errors import InputError, NotFoundError, ThrottledError, UnauthorizedError
from portrait.model.access import ROLES, Account, Session
from portrait.store.accounts import AccountRepository, StoredAccount
from portrait.store.metadata import MetadataStore

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes any length; a megabyte of password is an attack
FIRST_WAIT = 30.0
LONGEST_WAIT = 900.0
TOUCH_EVERY = 30.0  # seconds between writes of a session's last use (not one per request)

_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("a password no account has " + secrets.token_hex(8))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InputError(
            f"'{name[:80]}' is not a valid user name",
            where="name",
            hint="1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"the password is too short ({len(password)} characters)",
            where="password",
            hint=f"use at least {MIN_PASSWORD} characters",
        )
    if len(password) > MAX_PASSWORD:
        raise InputError(
            f"the password is too long (more than {MAX_PASSWORD} characters)", where="password"
        )
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(
            f"unknown role '{role}'", where="--role", hint="one of " + ", ".join(ROLES)
        )
    return role


class Accounts:
    """The console accounts of a workspace, and signing in and out."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        idle_timeout: float,
        lifetime: float,
        max_failures: int,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.repo = AccountRepository(store)
        self.idle = dt.timedelta(seconds=idle_timeout)
        self.lifetime = dt.timedelta(seconds=lifetime)
        self.max_failures = max_failures
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._strangers: dict[str, tuple[int, dt.datetime | None]] = {}
        self._lock = threading.Lock()

    # -- managing accounts --------------------------------------------------------------------
    def create(self, name: str, role: str, password: str) -> Account:
        check_name(name)
        _check_role(role)
        check_password(password)
        if self.repo.account(name) is not None:
            raise InputError(
                f"a user named '{name}' exists already",
                where="name",
                hint="choose another name, or 'portrait users reset-password' for that one",
            )
        self.repo.insert(name, role=role, password_hash=_HASHER.hash(password), at=self.clock())
        return self.get(name)

    def get(self, name: str) -> Account:
        return self._stored(name).account

    def all(self) -> list[Account]:
        return self.repo.all()

    def disable(self, name: str) -> Account:
        """Disable an account (its sessions end at once); it keeps its history."""
        self._stored(name)
        self.repo.update(name, disabled_at=self.clock(), end_sessions=True)
        return self.get(name)

    def enable(self, name: str) -> Account:
        self._stored(name)
        self.repo.update(name, disabled_at=None, failures=0, locked_until=None)
        return self.get(name)

    def set_role(self, name: str, role: str) -> Account:
        self._stored(name)
        self.repo.update(name, role=_check_role(role), end_sessions=True)
        return self.get(name)

    def reset_password(self, name: str, password: str) -> Account:
        """A new password (its sessions end; a wait after failed sign-ins is lifted)."""
        self._stored(name)
        check_password(password)
        self.repo.update(
            name,
            password_hash=_HASHER.hash(password),
            password_at=self.clock(),
            failures=0,
            locked_until=None,
            end_sessions=True,
        )
        return self.get(name)

    def _stored(self, name: str) -> StoredAccount:
        stored = self.repo.account(name)
        if stored is None:
            raise NotFoundError(f"no user named '{name}'", hint="see 'portrait users list'")
        return stored

    # -- signing in and out ---------------------------------------------------------------------
    def sign_in(self, name: str, password: str) -> tuple[str, Session]:
        """A new session for ``name`` when ``password`` is right: returns the cookie's token
        (shown once) and the session. Wrong names and passwords get the same answer."""
        now = self.clock()
        refused = UnauthorizedError("the user name or password is wrong")
        stored = self.repo.account(name) if NAME.fullmatch(name) else None
        if stored is None:
            self._wait_stranger(name, now)
            _verify(_DUMMY, password[:MAX_PASSWORD])  # the same time as a real check
            self._fail_stranger(name, now)
            raise refused
        if stored.locked_until is not None and stored.locked_until > now:
            raise self._throttled(stored.locked_until - now)
        if not _verify(stored.password_hash, password[:MAX_PASSWORD]):
            failures = stored.failures + 1
            until = self._lock_until(failures, now)
            self.repo.update(name, failures=failures, locked_until=until)
            raise refused
        if not stored.account.active:
            raise UnauthorizedError(
                f"the user '{name}' is disabled", hint="an admin can enable it again"
            )
        if _HASHER.check_needs_rehash(stored.password_hash):
            self.repo.update(name, password_hash=_HASHER.hash(password))
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        self.repo.add_session(_digest(token), name, csrf, now)
        return token, Session(stored.account, csrf, now, now)

    def session(self, token: str) -> Session | None:
        """The live session ``token`` opens, or None (unknown, ended, idle or too old, its
        account disabled)."""
        if not token or len(token) > 256:
            return None
        found = self.repo.session(_digest(token))
        if found is None:
            return None
        session, stored = found
        now = self.clock()
        if (
            now - session.seen_at > self.idle
            or now - session.created_at > self.lifetime
            or not stored.account.active
        ):
            self.repo.end_session(session.id)
            return None
        if (now - session.seen_at).total_seconds() > TOUCH_EVERY:
            self.repo.touch(session.id, now)
        return Session(stored.account, session.csrf, session.created_at, now)

    def sign_out(self, token: str) -> None:
        self.repo.end_session(_digest(token))

    def forget_expired(self) -> int:
        """Delete sessions that can no longer be used; returns how many."""
        now = self.clock()
        return self.repo.end_sessions_before(now - self.idle, now - self.lifetime)

    # -- throttling -------------------------------------------------------------------------------
    def _lock_until(self, failures: int, now: dt.datetime) -> dt.datetime | None:
        if self.max_failures == 0 or failures < self.max_failures:
            return None
        wait = min(FIRST_WAIT * 2 ** (failures - self.max_failures), LONGEST_WAIT)
        return now + dt.timedelta(seconds=wait)

    def _throttled(self, left: dt.timedelta) -> ThrottledError:
        seconds = max(1, int(left.total_seconds() + 0.999))
        return ThrottledError(
            "too many failed sign-ins in a row",
            hint=f"try again in {seconds} s (or ask an admin to reset the password)",
            retry_after=seconds,
        )

    def _wait_stranger(self, name: str, now: dt.datetime) -> None:
        with self._lock:
            _, until = self._strangers.get(name, (0, None))
        if until is not None and until > now:
            raise self._throttled(until - now)

    def _fail_stranger(self, name: str, now: dt.datetime) -> None:
        with self._lock:
            if len(self._strangers) > 10_000:  # a flood of made-up names must not grow it
                self._strangers.clear()
            failures = self._strangers.get(name, (0, None))[0] + 1
            self._strangers[name] = (failures, self._lock_until(failures, now))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def describe(account: Account) -> dict[str, Any]:
    """An account as listings show it."""
    return account.to_dict() | {"active": account.active}
