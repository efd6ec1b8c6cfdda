"""What the benchmark scripts share: formatting, sample statistics and interleaved timing."""

from __future__ import annotations

import json
import os
import platform
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

WARMUP = 2
MIN_RUNS = 11


def ms(seconds: float | None) -> str:
    """Milliseconds: two decimals below 100 ms, whole ones above, — when missing."""
    if seconds is None:
        return "—"
    value = seconds * 1e3
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def sample_stats(samples: Sequence[float]) -> dict[str, float | None]:
    """p50, p99, min and mean of timed samples (None without samples)."""
    if not samples:
        return {"p50": None, "p99": None, "min": None, "mean": None}
    data = np.asarray(samples)
    return {
        "p50": float(np.percentile(data, 50)),
        "p99": float(np.percentile(data, 99)),
        "min": float(data.min()),
        "mean": float(data.mean()),
    }


class Timed(Protocol):
    """A side of a comparison: ``call()`` runs it once and returns the seconds it took."""

    error: str | None
    samples: list[float]

    def call(self) -> float: ...


def time_sides(
    sides: Sequence[Any], runs: int, warmup: int = WARMUP, *, shuffle: bool = False
) -> None:
    """``warmup`` untimed calls of each side, then ``runs`` rounds calling every side once, the
    order rotating from round to round. A side that fails is reported, not fatal.

    Rotating keeps each side's predecessor: a side that follows one sharing its data always
    finds it in the CPU cache, and the side after a large scan never does. ``shuffle`` takes a
    new (seeded) order every round instead, so that every side follows every other alike."""
    order = random.Random(runs)
    for side in sides:
        try:
            for _ in range(warmup):
                side.call()
        except Exception as exc:  # report the failure, keep measuring the others
            side.error = f"{type(exc).__name__}: {exc}"
    live = [s for s in sides if s.error is None]
    for r in range(runs):
        shift = r % len(live) if live else 0
        sequence = live[shift:] + live[:shift]
        if shuffle:
            order.shuffle(sequence)
        for side in sequence:
            if side.error is not None:
                continue
            try:
                side.samples.append(side.call())
            except Exception as exc:  # keep the rounds going
                side.error = f"{type(exc).__name__}: {exc}"


def host_facts() -> tuple[str, int, int]:
    """(CPU model, RAM bytes, cores this process may use), from /proc on Linux."""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    return cpu, ram, usable


def base_facts(con: Any) -> dict[str, Any]:
    """Machine and engine facts every report starts with (``con``: a DuckDB connection)."""
    import duckdb

    cpu, ram, usable = host_facts()
    row = con.execute("SELECT current_setting('threads')").fetchone()
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "ram_bytes": ram,
        "ram": f"{ram / 2**30:.1f} GiB" if ram else "?",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "duckdb_threads": int(row[0]) if row else 0,
    }


def write_results(results_dir: Path, name: str, payload: dict[str, Any]) -> Path:
    """Write a report's JSON to ``results_dir/name.json`` and say where."""
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"{name}.json"
    out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(f"wrote {out}")
    return out
