"""Workspace files: layout, versioned folders with atomic swaps, tag files, manifests."""

from portrait.store.layout import Layout
from portrait.store.versions import VersionedDir, workspace_lock

__all__ = ["Layout", "VersionedDir", "workspace_lock"]
