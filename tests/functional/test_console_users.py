"""``portrait users``: console accounts from the command line (admins only), through a real
subprocess; the password comes on standard input and never shows anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from portrait.workspace import Workspace

PORTRAIT = str(Path(sys.executable).parent / "portrait")
SECRET = "a long passphrase for ann"  # noqa: S105 (a test account's password)


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PORTRAIT, *args], input=stdin, capture_output=True, text=True, check=False
    )


def invoke(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``portrait ARGS`` in this process (click's runner): the same code, without starting
    Python again for each command."""
    from typer.testing import CliRunner

    from portrait.cli.app import app

    result = CliRunner().invoke(app, list(args), input=stdin)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_create_list_disable_and_reset(ws: Workspace) -> None:
    """The first command through a real process (stdin, exit code), the rest in this one."""
    root = str(ws.root)
    made = run(
        "users",
        "create",
        "ann",
        "--role",
        "analyst",
        "--password-stdin",
        "-w",
        root,
        "-f",
        "json",
        stdin=SECRET + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["role"] == "analyst"
    assert SECRET not in made.stdout + made.stderr
    listed = json.loads(invoke("users", "list", "-w", root, "-f", "json").stdout)
    assert [(u["name"], u["role"], u["active"]) for u in listed] == [("ann", "analyst", True)]
    assert ws.accounts.sign_in("ann", SECRET)[1].caller.role == "analyst"
    assert invoke("users", "disable", "ann", "-w", root).returncode == 0
    assert (
        json.loads(invoke("users", "list", "-w", root, "-f", "json").stdout)[0]["active"] is False
    )
    assert invoke("users", "enable", "ann", "-w", root).returncode == 0
    assert invoke("users", "set-role", "ann", "--role", "marketer", "-w", root).returncode == 0
    reset = invoke(
        "users",
        "reset-password",
        "ann",
        "--password-stdin",
        "-w",
        root,
        stdin="another long passphrase\n",
    )
    assert reset.returncode == 0, reset.stderr
    assert ws.accounts.sign_in("ann", "another long passphrase")[1].caller.role == "marketer"


def test_bad_input_is_refused_with_its_field_and_creates_nothing(ws: Workspace) -> None:
    root = str(ws.root)
    short = invoke(
        "users",
        "create",
        "bob",
        "--role",
        "analyst",
        "--password-stdin",
        "-w",
        root,
        stdin="short\n",
    )
    assert short.returncode == 2
    assert "password: the password is too short (5 characters)" in short.stderr
    role = invoke(
        "users",
        "create",
        "bob",
        "--role",
        "boss",
        "--password-stdin",
        "-w",
        root,
        stdin=SECRET + "\n",
    )
    assert role.returncode == 2 and "unknown role 'boss'" in role.stderr
    empty = invoke("users", "create", "bob", "--role", "analyst", "--password-stdin", "-w", root)
    assert empty.returncode == 2 and "no password on standard input" in empty.stderr
    assert json.loads(invoke("users", "list", "-w", root, "-f", "json").stdout) == []
    unknown = invoke("users", "disable", "zed", "-w", root)
    assert unknown.returncode == 2 and "no user named 'zed'" in unknown.stderr


def test_only_admins_manage_users(ws: Workspace) -> None:
    refused = invoke("--role", "analyst", "users", "list", "-w", str(ws.root))
    assert refused.returncode == 2
    assert "may not list user accounts" in refused.stderr
