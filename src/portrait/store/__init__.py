"""Workspace files: layout, versioned folders with atomic swaps, tag files, manifests; and the
metadata database (:mod:`portrait.store.metadata`, its tables and one repository per aggregate)."""

from portrait.store.layout import Layout
from portrait.store.versions import VersionedDir, workspace_lock

__all__ = ["Layout", "VersionedDir", "workspace_lock"]
