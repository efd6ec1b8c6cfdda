"""The demo workspace: generated data loaded through ingest and built, as a user would."""

from __future__ import annotations

import os
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

from portrait.progress import Progress
from portrait.store.layout import Layout
from portrait.workspace.root import Workspace

DEMO_SETTINGS = {"data.timezone": "Asia/Shanghai"}
"""Demo timestamps are UTC; its local time (dayparts) is Beijing time."""

SHOWN = ("age_band", "city", "visit_daypart", "active_lines_360d", "value_tier")
"""The tags whose distributions the demo's summary shows."""


def create_demo(
    path: str | os.PathLike[str],
    *,
    users: int = 200_000,
    seed: int = 7,
    keep_data: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Create a demo workspace: generate data, load it through ingest, build every tag.

    Returns a summary (counts, timings, a few tag distributions).
    """
    from portrait.demo.generate import generate

    root = Path(path)
    Layout(root).create(DEMO_SETTINGS)
    for item in resources.files("portrait.demo").joinpath("tags").iterdir():
        if item.name.endswith(".yaml"):
            (root / "tags" / item.name).write_text(
                item.read_text(encoding="utf-8"), encoding="utf-8"
            )
    ws = Workspace(root)
    data_dir = root / "demo-data"
    t0 = time.perf_counter()
    data = generate(data_dir, users=users, seed=seed, progress=progress)
    t1 = time.perf_counter()
    ws.ingest("users", list(data.users_paths), progress=progress)
    for part in data.events_paths:  # one batch per part keeps memory bounded at any scale
        ws.ingest("events", part, progress=progress)
    ws.ingest("orders", list(data.orders_paths), progress=progress)
    t2 = time.perf_counter()
    report = ws.build(progress=progress)
    t3 = time.perf_counter()
    if not keep_data:
        shutil.rmtree(data_dir, ignore_errors=True)
    catalog = ws.tags
    distributions = {}
    for name in SHOWN:
        if name in catalog:
            info = catalog[name]
            shown = info.stats.get("distribution", [])[:8]
            distributions[f"{name} ({info.definition.title})"] = shown
    return {
        "workspace": str(root),
        "as_of": report.as_of,
        "users": data.users,
        "events": data.events,
        "orders": data.orders,
        "tags_built": len(report.computed),
        "generate_seconds": t1 - t0,
        "ingest_seconds": t2 - t1,
        "build_seconds": t3 - t2,
        "build_timings": report.timings,
        "distributions": distributions,
    }
