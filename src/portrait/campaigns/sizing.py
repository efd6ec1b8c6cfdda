"""Planning an experiment's size: how many users each group needs so that the comparisons
the report will make find the smallest effect worth finding (:mod:`portrait.stats.power`).

The comparisons planned for are each variant against the control (without a control: the
variants against each other). With ``m`` of them and a correction, each is planned at
``alpha / m`` (Bonferroni): Holm's and Benjamini–Hochberg's corrections are never stricter,
so the plan is on the safe side. The plan is the largest of the totals the comparisons need,
split by the weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from portrait.errors import InputError
from portrait.model.campaigns import CONTROL_GROUP
from portrait.stats.power import Design, sample_size


def plan_sample_size(
    baseline: float,
    effect: float,
    weights: Mapping[str, float],
    *,
    relative: bool = False,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str = "holm",
) -> dict[str, Any]:
    """The users each group needs (see the module docstring); ``effect`` absolute, or a share
    of the baseline when ``relative``; a mean metric when ``sd`` is given."""
    if any(not (w > 0) for w in weights.values()):
        raise InputError("every group's weight must be positive", where="--weights")
    if len(weights) < 2:
        raise InputError("an experiment needs two groups at least", where="--weights")
    try:
        design = Design(
            baseline=baseline,
            effect=effect,
            kind="proportion" if sd is None else "mean",
            sd=sd,
            relative=relative,
            alpha=alpha,
            power=power,
        )
    except ValueError as exc:
        raise InputError(str(exc), where="plan-size") from None
    total_weight = sum(weights.values())
    share = {g: w / total_weight for g, w in weights.items()}
    variants = [g for g in weights if g != CONTROL_GROUP]
    if CONTROL_GROUP in weights:
        pairs = [(CONTROL_GROUP, v) for v in variants]
    else:
        pairs = [(a, b) for i, a in enumerate(variants) for b in variants[i + 1 :]]
    each_alpha = alpha / len(pairs) if correction != "none" and len(pairs) > 1 else alpha
    planned = Design(
        baseline=design.baseline,
        effect=design.effect,
        kind=design.kind,
        sd=design.sd,
        relative=design.relative,
        alpha=each_alpha,
        power=design.power,
    )
    try:
        total = max(sample_size(planned, share[a], share[b]) for a, b in pairs)
    except ValueError:
        raise InputError(
            f"no sample size finds an effect of {design.absolute_effect:g} with {power:.0%} power",
            where="effect",
            hint="plan for a larger effect",
        ) from None
    sizes = {g: math.ceil(total * share[g]) for g in weights}
    groups = [{"group": g, "weight": weights[g], "users": sizes[g]} for g in weights]
    users = sum(sizes.values())
    shown = f"{effect:.1%} of the baseline" if relative else f"{design.absolute_effect:+g}"
    summary = (
        f"{users:,} users in all to find {shown} on a baseline of {baseline:g} "
        f"with {power:.0%} power, two-sided α={alpha:g}"
        + (
            f" ({each_alpha:.3g} per comparison, {len(pairs)} comparisons)"
            if each_alpha != alpha
            else ""
        )
    )
    return {
        "baseline": baseline,
        "effect": design.absolute_effect,
        "relative": relative,
        "kind": design.kind,
        "alpha": alpha,
        "alpha_per_comparison": each_alpha,
        "power": power,
        "comparisons": [f"{b} vs {a}" for a, b in pairs],
        "users": users,
        "groups": groups,
        "summary": summary,
    }
