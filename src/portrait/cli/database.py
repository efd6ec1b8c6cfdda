"""``portrait db …``: the metadata database."""

from __future__ import annotations

import typer

from portrait.cli.common import FormatOpt, WorkspaceOpt, handles_errors, open_ws
from portrait.cli.render import OutputFormat, emit_record

db_app = typer.Typer(
    help="The metadata database (segments, campaigns, keys, audit log).",
    no_args_is_help=True,
)


@db_app.command("status")
@handles_errors
def status(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """The metadata database: backend and schema revision.

    Opens the metadata database, upgrading its schema if it is older (as every command that
    uses it does), and shows the backend, the database, its schema revision and the newest
    revision.
    """
    ws = open_ws(workspace)
    record = {
        **ws.metadata.schema_status(),
        "url_from": ws.config.sources["store.metadata_url"],
    }
    emit_record(record, fmt, title="metadata database")
