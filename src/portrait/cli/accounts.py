"""``portrait users …``: the web console's user accounts (admins only)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from portrait.cli.common import FormatOpt, WorkspaceOpt, err, handles_errors, open_ws
from portrait.cli.render import OutputFormat, emit_record, emit_rows
from portrait.errors import InputError

users_app = typer.Typer(
    help="Console users: create, list, disable, roles, passwords.",
    no_args_is_help=True,
)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (its first line); else it is asked for.",
    ),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError("no password on standard input", where="--password-stdin")
        return line.rstrip("\r\n")
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        raise InputError("the two passwords differ", where="password")
    return str(first)


@users_app.command("create")
@handles_errors
def create_user(
    name: Annotated[str, typer.Argument(help="The name to sign in with.")],
    role: Annotated[str, typer.Option("--role", help="viewer, analyst, marketer or admin.")],
    password_stdin: PasswordStdin = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Create a console user with a role.

    The password (10 characters or more) is hashed with argon2id; it is never stored or
    shown. Example: echo 'a long passphrase' | portrait users create ann --role analyst
    --password-stdin
    """
    ws = open_ws(workspace)
    account = ws.accounts.create(name, role, _password(password_stdin))
    emit_record(account.to_dict(), fmt, title="console user")


@users_app.command("list")
@handles_errors
def list_users(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """Console users with their role, creation time and state."""
    rows = open_ws(workspace).accounts.all()
    emit_rows(rows, fmt, title="console users", columns=list(rows[0]) if rows else None)


@users_app.command("disable")
@handles_errors
def disable_user(
    name: Annotated[str, typer.Argument(help="The user's name.")], workspace: WorkspaceOpt = None
) -> None:
    """Disable a console user: their sessions end at once and sign-ins are refused."""
    open_ws(workspace).accounts.disable(name)
    err.print(f"user {name} disabled", highlight=False)


@users_app.command("enable")
@handles_errors
def enable_user(
    name: Annotated[str, typer.Argument(help="The user's name.")], workspace: WorkspaceOpt = None
) -> None:
    """Enable a disabled console user again."""
    open_ws(workspace).accounts.enable(name)
    err.print(f"user {name} enabled", highlight=False)


@users_app.command("set-role")
@handles_errors
def set_role(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[str, typer.Option("--role", help="viewer, analyst, marketer or admin.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Change a console user's role (their sessions end)."""
    open_ws(workspace).accounts.set_role(name, role)
    err.print(f"user {name} is now {role}", highlight=False)


@users_app.command("reset-password")
@handles_errors
def reset_password(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    password_stdin: PasswordStdin = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Give a console user a new password (their sessions end; a sign-in wait is lifted)."""
    ws = open_ws(workspace)
    ws.accounts.reset_password(name, _password(password_stdin))
    err.print(f"password of {name} reset", highlight=False)
