"""The ``portrait`` command line: a thin shell over :class:`portrait.workspace.Workspace`."""

from portrait.cli.app import app, main

__all__ = ["app", "main"]
