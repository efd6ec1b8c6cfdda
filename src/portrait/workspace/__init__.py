"""The facade: open a workspace and use its capabilities. Every surface (Python API, CLI,
HTTP API, web console) goes through :class:`Workspace` and its services
(:mod:`portrait.workspace.root`).

Example::

    import portrait
    ws = portrait.open("demo-ws")
    ws.build()
    ws.profile(columns=["age_band", "city"]).to_pandas()
"""

from portrait.audience.audience import Audience
from portrait.profile.catalog import TagCatalog, TagInfo
from portrait.workspace.demo import create_demo
from portrait.workspace.root import (
    WORKSPACE_ENV,
    Workspace,
    init,
    open_workspace,
    resolve_root,
)

__all__ = [
    "WORKSPACE_ENV",
    "Audience",
    "TagCatalog",
    "TagInfo",
    "Workspace",
    "create_demo",
    "init",
    "open_workspace",
    "resolve_root",
]
