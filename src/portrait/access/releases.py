"""How each report's numbers reach a caller under disclosure control (docs/privacy.md).

:mod:`portrait.access.disclosure` decides the mechanism (keyed noise, small cells, budget);
this module applies it to each report: which cells a report releases, what each cell is
named by (what it counts, so the same number gets the same noise in every report), what a
query costs, and which derived numbers are computed again from the released counts. Every
function returns the report unchanged for a caller allowed exact numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap

from portrait.access.disclosure import Disclosure, privacy_note, ratio, set_digest
from portrait.model.access import Caller

CountRelease = Callable[[Sequence[str], npt.ArrayLike], npt.NDArray[np.float64]]
"""Released counts (NaN: suppressed) of named cells."""

_SUMMARIES = ("distribution", "min", "max", "mean", "p25", "p50", "p75", "p90", "p99")
_PERCENTILES = {"p25": 25, "p50": 50, "p75": 75, "p90": 90, "p99": 99}
_BIN = re.compile(r"^\[(?P<lo>.+), (?P<hi>.+)(?P<end>[)\]])$")


def privacy(disclosure: Disclosure, caller: Caller) -> dict[str, Any] | None:
    """The policy note of a controlled answer (None for a caller with exact numbers)."""
    return privacy_note(disclosure, caller) if disclosure.controlled(caller) else None


def _int(value: float) -> int | None:
    return None if value != value else int(value)  # NaN: suppressed


def tag_stats(
    disclosure: Disclosure,
    caller: Caller,
    *,
    version: str,
    name: str,
    stats: dict[str, Any],
    pii: bool,
) -> dict[str, Any]:
    """A tag's catalog statistics as ``caller`` may see them.

    Below the permission to see personal data, a pii tag shows no values. Under disclosure
    control every count is released (the same cells as an insight report's baseline of every
    user, so the catalog and insight agree), values held by fewer than k users merge into one
    suppressed row, and no number is one person's value: the extremes (min, max) are left
    out, the outer bins of a numeric distribution lose their outer edge (``< 22``, ``≥ 51``),
    and a percentile is shown only when at least k users lie beyond it."""
    out = dict(stats)
    if pii and not caller.sees_pii:
        for key in _SUMMARIES:
            out.pop(key, None)
        out["distribution_hidden"] = "personal data (pii): values are shown to admins only"
    if not disclosure.controlled(caller):
        return out
    release = disclosure.fixed(caller)
    k = disclosure.policy.min_count
    prefix = f"and|all|{version}"
    users = int(out.get("users") or 0)
    covered_exact = int(out.get("covered") or 0)
    rows = list(out.get("distribution") or [])
    cells = [f"{prefix}|known|{name}", f"{prefix}|missing|{name}"]
    cells += [f"{prefix}|v|{name}|{r['value']}" for r in rows]
    values = [covered_exact, users - covered_exact, *(int(r["count"]) for r in rows)]
    released = release.counts(cells, values).tolist()
    covered, missing = _int(released[0]), _int(released[1])
    out.update(
        covered=covered,
        coverage=None if covered is None or not users else min(covered / users, 1.0),
        null_rate=None if missing is None or not users else min(missing / users, 1.0),
    )
    for key in ("min", "max"):
        out.pop(key, None)
    for key, q in _PERCENTILES.items():
        if key in out and min(q, 100 - q) / 100 * covered_exact < k:
            out.pop(key)
    if "distribution" in out:
        shown, hidden = [], 0
        for row, count in zip(rows, released[2:], strict=True):
            if count != count:
                hidden += 1
            else:
                shown.append({**row, "count": int(count), "share": int(count) / users})
        _open_outer_bins(shown)
        if hidden:
            shown.append(
                {
                    "value": f"(values held by fewer than {k} users)",
                    "count": None,
                    "share": None,
                    "values": hidden,
                    "suppressed": True,
                }
            )
        out["distribution"] = shown
    return out


def _open_outer_bins(rows: list[dict[str, Any]]) -> None:
    """Replace the outer edges of a binned numeric distribution (the smallest and the largest
    value: one person's each) with open bounds: ``[18, 22)`` → ``< 22``, ``[51, 65]`` → ``≥ 51``."""
    bins = [(i, m) for i, r in enumerate(rows) if (m := _BIN.match(str(r["value"])))]
    if len(bins) != len(rows) or not bins:
        return  # single values, or categories: not a binned range
    first, first_match = bins[0]
    last, last_match = bins[-1]
    if first == last:
        rows[first]["value"] = "all values"
        return
    rows[first]["value"] = f"< {first_match['hi']}"
    rows[last]["value"] = f"≥ {last_match['lo']}"


def segment_size(disclosure: Disclosure, caller: Caller, snapshot_id: int, size: int) -> int | None:
    """A saved segment's size at one evaluation (a number the data fixes: no charge)."""
    return disclosure.fixed(caller).count(f"snapshot|{snapshot_id}", size)


def segment_history(
    disclosure: Disclosure, caller: Caller, rows: Sequence[Any]
) -> list[dict[str, Any]]:
    """A segment's snapshots (``id``, ``size``, ``population``, ``evaluated_at``, …) with
    sizes released like :func:`segment_size`; a controlled caller also gets each share and
    whether it was suppressed."""
    release = disclosure.fixed(caller)
    sizes = release.counts([f"snapshot|{r.id}" for r in rows], [r.size for r in rows])
    out = []
    for row, size in zip(rows, sizes.tolist(), strict=True):
        shown = _int(size)
        entry = {
            **row.__dict__,
            "size": shown,
            "evaluated_at": row.evaluated_at.isoformat(timespec="seconds"),
        }
        if not release.exact:
            entry.update(share=ratio(shown, row.population), suppressed=shown is None)
        out.append(entry)
    return out


def overlap(
    disclosure: Disclosure,
    caller: Caller,
    exact: dict[str, Any],
    a: AbstractBitMap,
    b: AbstractBitMap,
) -> dict[str, Any]:
    """Sizes of A, B, A∩B, A∪B, A only, B only and the Jaccard index, every one computed from
    the three released counts (|A|, |B|, |A∩B|) under disclosure control."""
    if not disclosure.controlled(caller):
        return exact
    da, db = set_digest(a), set_digest(b)
    pair = sorted((da, db))
    release = disclosure.release(caller, {"kind": "overlap", "sets": pair}, 3)
    size_a, size_b, both = (
        _int(v)
        for v in release.counts(
            [f"set|{da}", f"set|{db}", f"both|{pair[0]}|{pair[1]}"],
            [exact["size_a"], exact["size_b"], exact["intersection"]],
        ).tolist()
    )
    if size_a is None or size_b is None or both is None:
        union = a_only = b_only = None
    else:
        union = max(size_a + size_b - both, 0)
        a_only, b_only = max(size_a - both, 0), max(size_b - both, 0)
    known = union is not None
    return {
        "a": exact["a"],
        "b": exact["b"],
        "size_a": size_a,
        "size_b": size_b,
        "intersection": both,
        "union": union,
        "jaccard": ratio(both, union) if known else None,
        "a_only": a_only,
        "b_only": b_only,
        "suppressed": not known,
        "privacy": privacy(disclosure, caller),
    }


def count(disclosure: Disclosure, caller: Caller, members: AbstractBitMap) -> int | None:
    """An audience's size as ``caller`` may see it (charged once per member set)."""
    if not disclosure.controlled(caller):
        return len(members)
    digest = set_digest(members)
    release = disclosure.release(caller, {"kind": "count", "set": digest}, 1)
    return release.count(f"set|{digest}", len(members))


def member_sets(
    disclosure: Disclosure, caller: Caller, kind: str, sets: Sequence[AbstractBitMap]
) -> list[int | None]:
    """The sizes of member sets as ``caller`` may see them: exact for a caller allowed exact
    numbers; else released, each named by its members (the same set gets the same noise in
    every report, as :func:`count` gives it), charged one count per distinct set, None where
    suppressed. ``kind`` names the report in the ledger."""
    if not disclosure.controlled(caller):
        return [len(s) for s in sets]
    digests = [set_digest(s) for s in sets]
    distinct = sorted(set(digests))
    release = disclosure.release(caller, {"kind": kind, "sets": distinct}, len(distinct))
    out = release.counts([f"set|{d}" for d in digests], [len(s) for s in sets])
    return [_int(v) for v in out.tolist()]


def insight(
    disclosure: Disclosure,
    caller: Caller,
    *,
    target: AbstractBitMap,
    baseline: AbstractBitMap | None,
    tags: Sequence[str],
    version: str,
    cost_of: Callable[[str], int],
) -> dict[str, CountRelease]:
    """The release functions of an insight report (``release`` for the target's and a rule
    baseline's counts, ``population_release`` for a baseline of every user) for a
    controlled caller; ``{}`` (exact numbers) for the others.

    Cells are renamed by what they count (the member set's digest, the profile version, the
    tag and the value). The cost is charged at once: a histogram per tag and side, where
    ``cost_of(tag)`` is 1 for a single-valued tag (its values are disjoint) and 1 + its
    values for a multi-valued one (they overlap)."""
    if not disclosure.controlled(caller):
        return {}
    digests = {"target": set_digest(target)}
    digests["baseline"] = "all" if baseline is None else set_digest(baseline)
    per_side = sum(cost_of(t) for t in tags)
    cost = 1 + per_side + (0 if baseline is None else 1 + per_side)
    query = {"kind": "insight", **digests, "tags": sorted(tags), "version": version}
    charged = disclosure.release(caller, query, cost)
    fixed = disclosure.fixed(caller)

    def cell(name: str) -> str:
        side, what = name.split("|", 1)
        digest = digests[side]
        return f"set|{digest}" if what == "size" else f"and|{digest}|{version}|{what}"

    def target_release(cells: Sequence[str], values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return charged.counts([cell(c) for c in cells], values)

    def population_release(cells: Sequence[str], values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        out = fixed.counts([cell(c) for c in cells], values)
        out[0] = float(np.asarray(values)[0])  # the number of users is public
        return out

    return {"release": target_release, "population_release": population_release}


def cross(
    disclosure: Disclosure, caller: Caller, members: Sequence[AbstractBitMap]
) -> dict[str, CountRelease]:
    """The release of a cross matrix (``{"release": …}``) for a controlled caller, its cells
    named by member sets; ``{}`` for the others. n audiences cost n + n(n−1)/2 counts."""
    if not disclosure.controlled(caller):
        return {}
    digests = [set_digest(m) for m in members]
    n = len(digests)
    release = disclosure.release(
        caller, {"kind": "cross", "sets": sorted(digests)}, n + n * (n - 1) // 2
    )

    def cell(name: str) -> str:
        what, *at = name.split("|")
        if what == "size":
            return f"set|{digests[int(at[0])]}"
        pair = sorted(digests[int(i)] for i in at)
        return f"both|{pair[0]}|{pair[1]}"

    def counts(cells: Sequence[str], values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return release.counts([cell(c) for c in cells], values)

    return {"release": counts}


def rfm(
    disclosure: Disclosure, caller: Caller, rows: list[dict[str, Any]], query: str
) -> list[dict[str, Any]]:
    """RFM segment rows as ``caller`` may see them: numbers fixed by the data (the caller
    chooses only among a few windows), released without charge; a suppressed segment keeps
    its name only (its averages describe its few users). ``query`` names the report (profile
    version, tag, window, scale) so each report's cells get their own noise."""
    if not disclosure.controlled(caller):
        return rows
    release = disclosure.fixed(caller)
    total = sum(int(r["users"]) for r in rows)
    released = release.counts(
        [f"{query}|total"] + [f"{query}|{r['segment']}" for r in rows],
        [total] + [int(r["users"]) for r in rows],
    ).tolist()
    shown_total = None if math.isnan(released[0]) else released[0]
    out = []
    for row, users in zip(rows, released[1:], strict=True):
        if users != users:
            out.append({**dict.fromkeys(row), "segment": row["segment"], "suppressed": True})
        else:
            share = users / shown_total if shown_total else None
            out.append({**row, "users": int(users), "share": share})
    return out


def association_rules(
    disclosure: Disclosure, caller: Caller, rules: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Association rules as ``caller`` may see them: computed over every basket (no subset
    chosen by the caller to difference), so a controlled caller gets the rules that rest on
    at least k baskets."""
    if not disclosure.controlled(caller):
        return rules
    k = disclosure.policy.min_count
    return [r for r in rules if int(r["baskets"]) >= k]


def itemsets(
    disclosure: Disclosure, caller: Caller, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Frequent itemsets as ``caller`` may see them: like the rules, over every basket, so a
    controlled caller gets the itemsets held by at least k baskets."""
    if not disclosure.controlled(caller):
        return rows
    k = disclosure.policy.min_count
    return [r for r in rows if int(r["baskets"]) >= k]
