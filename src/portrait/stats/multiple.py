"""Many comparisons at once (each variant against the control and against each other, on
every metric): p-values corrected so that the report's "significant" keeps its promise.

- **Holm** (step-down Bonferroni) controls the family-wise error rate — the chance of any
  false positive — at α, in every dependence situation: sort the m p-values, multiply the
  i-th smallest (from 0) by (m − i), take the running maximum, cap at 1.
- **Benjamini–Hochberg** controls the false discovery rate — the expected share of false
  positives among those called significant — at α (for independent or positively dependent
  tests): the i-th smallest (from 1) times m / i, the running minimum from the largest down,
  cap at 1. Less strict than Holm: more findings, a few of them possibly false.

The results agree with statsmodels' ``multipletests(method="holm" | "fdr_bh")``. Missing
p-values (None or NaN: an undefined comparison) are left out of the family and stay missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

Correction = Literal["holm", "bh", "none"]
CORRECTIONS: tuple[Correction, ...] = ("holm", "bh", "none")


def adjust(p_values: Sequence[float | None], method: Correction = "holm") -> list[float | None]:
    """The corrected p-values, in the order given."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction '{method}' (one of {', '.join(CORRECTIONS)})")
    present = [i for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    if not present:
        return out
    p = np.array([p_values[i] for i in present], dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "none":
        corrected = ranked
    elif method == "holm":
        corrected = np.maximum.accumulate(ranked * (m - np.arange(m)))
    else:
        scaled = ranked * m / np.arange(1, m + 1)
        corrected = np.minimum.accumulate(scaled[::-1])[::-1]
    corrected = np.minimum(corrected, 1.0)
    result = np.empty(m)
    result[order] = corrected
    for slot, value in zip(present, result, strict=True):
        out[slot] = float(value)
    return out
