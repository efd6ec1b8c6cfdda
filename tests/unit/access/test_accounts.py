"""Console accounts: argon2id hashes, sign-in with the same answer for wrong names and
passwords, throttling after repeated failures, idle and absolute session expiry, sessions
ended by sign-out, disabling, role and password changes; managing accounts is for admins."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import portrait
from portrait.access.accounts import Accounts
from portrait.errors import (
    AccessError,
    InputError,
    NotFoundError,
    ThrottledError,
    UnauthorizedError,
)
from portrait.workspace import Workspace

PASSWORD = "correct horse battery"  # noqa: S105 (a test account's password)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return portrait.init(tmp_path / "ws")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(ws: Workspace, clock: Clock) -> Accounts:
    made = Accounts(ws.metadata, idle_timeout=600, lifetime=3600, max_failures=3, clock=clock)
    made.create("ann", "analyst", PASSWORD)
    return made


def test_passwords_are_stored_as_argon2id_hashes(accounts: Accounts) -> None:
    stored = accounts.repo.account("ann")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


def test_sign_in_gives_a_session_its_token_opens(accounts: Accounts) -> None:
    token, session = accounts.sign_in("ann", PASSWORD)
    assert session.caller.actor == "user:ann" and session.caller.role == "analyst"
    found = accounts.session(token)
    assert found is not None and found.csrf == session.csrf
    assert accounts.session(token + "x") is None
    assert accounts.session("") is None


@pytest.mark.parametrize(("name", "password"), [("ann", "wrong password"), ("bob", PASSWORD)])
def test_wrong_names_and_passwords_get_the_same_answer(
    accounts: Accounts, name: str, password: str
) -> None:
    with pytest.raises(UnauthorizedError, match=r"^the user name or password is wrong$"):
        accounts.sign_in(name, password)


def test_repeated_failures_make_the_account_wait_even_for_the_right_password(
    accounts: Accounts, clock: Clock
) -> None:
    for _ in range(3):
        with pytest.raises(UnauthorizedError):
            accounts.sign_in("ann", "wrong password")
    with pytest.raises(ThrottledError) as refused:
        accounts.sign_in("ann", PASSWORD)
    assert refused.value.extra["retry_after"] == 30
    clock.advance(31)
    with pytest.raises(UnauthorizedError):  # the 4th failure: the wait doubles
        accounts.sign_in("ann", "wrong password")
    with pytest.raises(ThrottledError) as again:
        accounts.sign_in("ann", PASSWORD)
    assert again.value.extra["retry_after"] == 60
    clock.advance(61)
    accounts.sign_in("ann", PASSWORD)  # a success clears the failures
    assert accounts.repo.account("ann").failures == 0  # type: ignore[union-attr]


def test_unknown_names_are_throttled_too(accounts: Accounts) -> None:
    for _ in range(3):
        with pytest.raises(UnauthorizedError):
            accounts.sign_in("nobody", "whatever it is")
    with pytest.raises(ThrottledError):
        accounts.sign_in("nobody", "whatever it is")


def test_sessions_end_when_idle_and_when_too_old(accounts: Accounts, clock: Clock) -> None:
    token, _ = accounts.sign_in("ann", PASSWORD)
    clock.advance(599)
    assert accounts.session(token) is not None  # used: its idle time starts again
    clock.advance(599)
    assert accounts.session(token) is not None
    clock.advance(601)
    assert accounts.session(token) is None  # idle too long
    token, _ = accounts.sign_in("ann", PASSWORD)
    for _ in range(7):
        clock.advance(500)
        assert accounts.session(token) is not None  # never idle for 600 s
    clock.advance(500)
    assert accounts.session(token) is None  # 4,000 s old: past the 3,600 s lifetime


def test_sign_out_disabling_and_password_changes_end_sessions(accounts: Accounts) -> None:
    token, _ = accounts.sign_in("ann", PASSWORD)
    accounts.sign_out(token)
    assert accounts.session(token) is None
    token, _ = accounts.sign_in("ann", PASSWORD)
    accounts.reset_password("ann", "another long password")
    assert accounts.session(token) is None
    with pytest.raises(UnauthorizedError):
        accounts.sign_in("ann", PASSWORD)
    token, _ = accounts.sign_in("ann", "another long password")
    accounts.disable("ann")
    assert accounts.session(token) is None
    with pytest.raises(UnauthorizedError, match="disabled"):
        accounts.sign_in("ann", "another long password")
    accounts.enable("ann")
    token, _ = accounts.sign_in("ann", "another long password")
    accounts.set_role("ann", "admin")
    assert accounts.session(token) is None
    assert accounts.sign_in("ann", "another long password")[1].caller.role == "admin"


@pytest.mark.parametrize(
    ("name", "role", "password", "where"),
    [
        ("ann", "analyst", PASSWORD, "name"),  # exists already
        ("b b", "analyst", PASSWORD, "name"),
        ("bob", "owner", PASSWORD, "--role"),
        ("bob", "analyst", "short", "password"),
    ],
)
def test_bad_accounts_are_refused_with_the_field_named(
    accounts: Accounts, name: str, role: str, password: str, where: str
) -> None:
    with pytest.raises(InputError) as refused:
        accounts.create(name, role, password)
    assert refused.value.where == where
    assert [a.name for a in accounts.all()] == ["ann"]


def test_unknown_accounts_are_named(accounts: Accounts) -> None:
    with pytest.raises(NotFoundError, match="no user named 'zed'"):
        accounts.disable("zed")


def test_only_admins_manage_accounts_and_everything_is_audited(tmp_path: Path) -> None:
    ws = portrait.init(tmp_path / "ws")
    ws.accounts.create("boss", "admin", PASSWORD)
    analyst = portrait.open(ws.root, role="analyst")
    with pytest.raises(AccessError, match="may not create user accounts"):
        analyst.accounts.create("eve", "admin", PASSWORD)
    with pytest.raises(AccessError):
        analyst.accounts.all()
    ws.accounts.sign_in("boss", PASSWORD)
    with pytest.raises(UnauthorizedError):
        ws.accounts.sign_in("boss", "a wrong password")
    actions = [(e["actor"], e["action"]) for e in ws.access.audit_entries(10)]
    assert ("user:boss", "console:sign-in") in actions
    assert ("user:boss", "console:sign-in-refused") in actions
    assert any(a == "account:create" for _, a in actions)


def test_administration_cannot_lock_itself_out(tmp_path: Path) -> None:
    ws = portrait.init(tmp_path / "ws")
    ws.accounts.create("boss", "admin", PASSWORD)
    ws.accounts.create("ann", "analyst", PASSWORD)
    boss = ws.accounts.sign_in("boss", PASSWORD)[1].caller
    with pytest.raises(InputError, match="may not disable your own account"):
        ws.accounts.disable("boss", caller=boss)
    with pytest.raises(InputError, match="may not take the admin role from your own account"):
        ws.accounts.set_role("boss", "analyst", caller=boss)
    with pytest.raises(InputError, match="'boss' is the last active admin"):
        ws.accounts.disable("boss")  # from the command line too
    ws.accounts.set_role("ann", "admin", caller=boss)
    ws.accounts.disable("boss")  # another admin remains
    assert [a["active"] for a in ws.accounts.all()] == [True, False]
