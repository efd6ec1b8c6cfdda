"""``portrait serve`` (the HTTP API), ``portrait keys …`` and ``portrait audit``."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from portrait.cli.common import FormatOpt, WorkspaceOpt, err, handles_errors, open_ws
from portrait.cli.render import OutputFormat, emit_record, emit_rows

keys_app = typer.Typer(
    help="API keys for the HTTP API: create, list, revoke.", no_args_is_help=True
)


@handles_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.", min=1)] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="One JSON line per request on stderr (request id, route, status, ms).",
        ),
    ] = True,
    workspace: WorkspaceOpt = None,
) -> None:
    """The web console and the HTTP API over a workspace.

    Serves the web console at / (sign in with a user from 'portrait users create') and the
    HTTP API at /v1, with its OpenAPI document at /openapi.json and interactive docs at /docs.
    """
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    ws = open_ws(workspace)  # a bad workspace is reported here, not in every worker
    os.environ["PORTRAIT_WORKSPACE"] = str(ws.root)
    err.print(
        f"serving {ws.root}: the console at http://{host}:{port}/ , the API at /v1 (docs at /docs)",
        highlight=False,
    )
    uvicorn.run(
        "portrait.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        log_config=_log_config(copy.deepcopy(LOGGING_CONFIG), access_log),
        access_log=False,  # ours (portrait.access) has the request id and the route
    )


def _log_config(config: dict[str, Any], access_log: bool) -> dict[str, Any]:
    """uvicorn's logging setup (applied in every worker) plus the JSON access log."""
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["portrait_access"] = {
        "class": "logging.StreamHandler",
        "formatter": "json_line",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["portrait.access"] = {
        "handlers": ["portrait_access"],
        "level": "INFO" if access_log else "WARNING",
        "propagate": False,
    }
    return config


@keys_app.command("create")
@handles_errors
def create_key(
    role: Annotated[str, typer.Option("--role", help="viewer, analyst, marketer or admin.")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", help="Expire after this many days.", min=1)
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Create an API key with a role.

    The full key is printed once; only its hash is kept.
    """
    info, secret = open_ws(workspace).access.create_key(role, name=name, expires_days=expires_days)
    emit_record({**info.to_dict(), "key": secret}, fmt, title="API key (shown once)")


@keys_app.command("list")
@handles_errors
def list_keys(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """API keys (never their secrets).

    Every key with its id, name, role, creation time, expiry and whether it is revoked.
    """
    rows = [k.to_dict() for k in open_ws(workspace).access.managed_keys().all()]
    emit_rows(rows, fmt, title="API keys", columns=list(rows[0]) if rows else None)


@keys_app.command("revoke")
@handles_errors
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (see portrait keys list).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Revoke an API key.

    Requests with it are refused from now on.
    """
    info = open_ws(workspace).access.revoke_key(key_id)
    err.print(f"key {info.id} ({info.role}) revoked", highlight=False)


@handles_errors
def audit(
    limit: Annotated[int, typer.Option("--limit", help="Newest entries to show.", min=1)] = 50,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this key id.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The audit log of user-level reads.

    Who read which users, exported what, did which campaign action, and when.
    """
    rows = open_ws(workspace).access.audit_entries(limit, actor)
    emit_rows(rows, fmt, title="audit log", columns=["at", "actor", "action", "target", "rows"])
