"""The ``portrait`` command group: commands listed in the order of the work, and usage errors
in the JSON error shape when ``--format json`` is asked."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from portrait.cli.common import emit_error, wants_json

#: click's UsageError, of whichever click typer uses (recent typers carry their own copy)
UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

WORKFLOW_ORDER = (
    # set up, load and build
    "init",
    "demo",
    "ingest",
    "build",
    "status",
    # look at tags and profiles, select audiences
    "tags",
    "profile",
    "count",
    "segment",
    "ids",
    # understand them
    "insight",
    "cross",
    "user",
    "rfm",
    "rank",
    "niche",
    "subgroups",
    "persona",
    "cube",
    "rules",
    # act on them
    "campaign",
    # run and administer the workspace
    "config",
    "db",
    "keys",
    "users",
    "serve",
    "audit",
)
"""The order ``portrait --help`` lists the commands in (docs/cli.md's command table follows
it). Commands not named here come last, in the order they were added."""


class PortraitGroup(TyperGroup):
    """The root group of the command line."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(self.commands)
        known = [n for n in WORKFLOW_ORDER if n in self.commands]
        return known + [n for n in names if n not in WORKFLOW_ORDER]

    def invoke(self, ctx: Any) -> Any:
        # A subcommand's usage error (a missing argument, a bad option value) is raised while
        # its context is made, inside this call; with --format json it is reported as JSON.
        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if not wants_json(args):
                raise
            where = getattr(exc, "ctx", None) or ctx
            command = where.command_path
            emit_error(
                {
                    "code": "bad_input",
                    "message": exc.format_message(),
                    "where": command,
                    "hint": f"see {command} --help",
                }
            )
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None
