"""What every command shares: the workspace option, output options, error handling."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from portrait import workspace as ws_api
from portrait.cli.render import OutputFormat
from portrait.errors import PortraitError

err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $PORTRAIT_WORKSPACE or the current folder)",
        show_default=False,
    ),
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
UnmaskOpt = Annotated[
    bool, typer.Option("--unmask", help="Show personal data (pii tags) unmasked.")
]


def _check_chart(path: Path | None) -> Path | None:
    """Refuse a chart file Portrait cannot write before any work is done."""
    if path is not None:
        from portrait.charts.output import chart_format

        try:
            chart_format(path)
        except PortraitError as exc:
            raise typer.BadParameter(str(exc)) from None
        if not path.parent.is_dir():
            raise typer.BadParameter(f"folder '{path.parent}' does not exist")
    return path


ChartOpt = Annotated[
    Path | None,
    typer.Option(
        "--chart",
        help="Also write the report as a chart: .svg, .png, .html (self-contained, offline) "
        "or .json (the Vega-Lite spec).",
        show_default=False,
        callback=_check_chart,
    ),
]


def write_chart(path: Path | None, spec: Callable[[], dict[str, Any]]) -> None:
    """Write the chart ``spec()`` builds to ``path`` (when given), saying where it went."""
    if path is None:
        return
    import warnings

    from portrait.charts import save_chart

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_chart(spec(), path)
    for warning in caught:
        err.print(f"warning: {warning.message}", style="yellow", highlight=False)
    err.print(f"chart written to {path}", highlight=False)


def error_body(exc: PortraitError) -> dict[str, Any]:
    """The fields of a Portrait error as the HTTP API returns them under ``"error"``: code,
    message, where, hint, the error's extra fields, and a rule error's line and column."""
    return {**exc.to_dict(), **exc.extra}


def emit_error(body: dict[str, Any]) -> None:
    """Write one JSON error object, ``{"error": body}``, on standard error."""
    sys.stderr.write(json.dumps({"error": body}, ensure_ascii=False, indent=2, default=str) + "\n")


def wants_json(args: Sequence[str]) -> bool:
    """Whether command-line arguments ask for ``--format json`` (in any spelling)."""
    for i, arg in enumerate(args):
        if arg in ("-f", "--format") and i + 1 < len(args) and args[i + 1] == "json":
            return True
        if arg in ("--format=json", "-fjson"):
            return True
    return False


def handles_errors(func: F) -> F:
    """Print Portrait errors for people (no traceback), or as one JSON error object with
    ``--format json``; exit 2 for bad input, 1 for failures."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PortraitError as exc:
            if kwargs.get("fmt") is OutputFormat.json:
                emit_error(error_body(exc))
            else:
                err.print("error:", style="bold red", end=" ")
                err.print(str(exc), highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


_acting: dict[str, str | None] = {"role": None}
"""Who the command acts as: the root option ``--role`` (None: ``privacy.local_role``)."""


def act_as(role: str | None) -> None:
    """Set the role the command's workspace is opened with (``portrait --role viewer …``)."""
    _acting["role"] = role


def open_ws(workspace: Path | None) -> ws_api.Workspace:
    """The workspace, opened as the command's role (the OS user is the actor)."""
    return ws_api.open_workspace(workspace, role=_acting["role"])
