"""The ``portrait`` command line: the root group, its ``--role`` option and every command
registered in the order of the work. Each command parses its arguments, calls one facade
service and renders the result (cli/<noun>.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from portrait.cli.accounts import users_app
from portrait.cli.analysis import cross, insight_app, rfm, user
from portrait.cli.campaigns import campaign_app
from portrait.cli.catalog import count, profile, tags_app
from portrait.cli.common import act_as
from portrait.cli.data import build, config, demo, ingest, init, status
from portrait.cli.database import db_app
from portrait.cli.discovery import cube_app, niche, persona_app, rank, subgroups
from portrait.cli.group import PortraitGroup
from portrait.cli.rules import rules_app
from portrait.cli.segments import ids_app, segment_app
from portrait.cli.service import audit, keys_app, serve

app = typer.Typer(
    name="portrait",
    help="Portrait: user profiles, tags as code and audiences (用户画像平台).",
    cls=PortraitGroup,  # lists the commands in the order of the work
    rich_markup_mode=None,  # help is plain text, wrapped to the terminal (\b keeps a layout)
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# the commands, in the order --help lists them (cli/group.py orders them by the work)
app.command("init")(init)
app.command("demo")(demo)
app.command("ingest")(ingest)
app.command("build")(build)
app.command("status")(status)
app.add_typer(tags_app, name="tags")
app.command("profile")(profile)
app.command("count")(count)
app.add_typer(segment_app, name="segment")
app.add_typer(ids_app, name="ids")
app.add_typer(insight_app, name="insight")
app.command("cross")(cross)
app.command("user")(user)
app.command("rfm")(rfm)
app.command("rank")(rank)
app.command("niche")(niche)
app.command("subgroups")(subgroups)
app.add_typer(persona_app, name="persona")
app.add_typer(cube_app, name="cube")
app.add_typer(rules_app, name="rules")
app.add_typer(campaign_app, name="campaign")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.command("serve")(serve)
app.command("audit")(audit)
app.command("config")(config)
app.add_typer(db_app, name="db")


@app.callback()
def root(
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="Act as this role: viewer, analyst, marketer or admin (default: the setting "
            "privacy.local_role). A viewer gets the numbers a viewer's API key gets "
            "(docs/privacy.md).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Portrait: user profiles, tags as code and audiences (用户画像平台)."""
    act_as(role)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
