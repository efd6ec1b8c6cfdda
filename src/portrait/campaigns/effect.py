"""Campaign effect: funnel, rates, ROI and uplift against the control holdout.

Counts per group come from the delivery records, the response events and the orders; this
module turns them into the report (no I/O). Definitions:

- **targeted**: users assigned to the group (sent, failed, suppressed alike: the comparison is
  by assignment, "intent to treat", so capping or failures cannot bias it);
- **delivered**: users with a ``delivered`` response; when the campaign has no delivery
  receipts at all, the users sent to;
- **CTR** = clicked / delivered; **CVR** = converted / delivered (the control, which receives
  nothing: converted / targeted);
- **converted**: a ``converted`` response within the attribution window after the send, or an
  order (or the campaign's ``conversion_event``) within the window after the run started (the
  only sources for the control);
- **revenue**: per user the larger of the reported conversion revenue and the order amount in
  the window (the two usually describe the same purchase);
- **ROI** = (revenue − cost) / cost, cost = messages sent × cost per message;
- **uplift** of a variant = its conversion rate per targeted user minus the control's, with a
  95% Wald interval (unpooled) and the p-value of the pooled two-proportion z-test; the
  **relative uplift** = uplift / the control's rate, with the 95% interval of the rate ratio
  (log method) minus 1 (undefined when either group has no conversion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portrait.model.campaigns import CONTROL_GROUP
from portrait.stats.proportions import difference_interval, ratio_interval, two_proportion_ztest
from portrait.stats.srm import SrmResult

ALPHA = 0.05


@dataclass(frozen=True)
class GroupCounts:
    group: str
    weight: float
    targeted: int
    sent: int
    failed: int
    suppressed: int
    delivered: int
    opened: int
    clicked: int
    converted: int
    revenue: float


def _defined(x: float) -> float | None:
    return None if x != x else x  # NaN: undefined (a zero count)


def _rate(n: int, d: int) -> float | None:
    return n / d if d else None


def _pts(x: float) -> str:
    return f"{x * 100:+.1f} pts"


def _p(p: float | None) -> str:
    if p is None:
        return "p=—"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def group_rows(
    counts: list[GroupCounts], cost_per_message: float, receipts: bool
) -> list[dict[str, Any]]:
    """One row per group: the funnel, rates, revenue, cost, ROI and the uplift against the
    control (when there is one)."""
    control = next((c for c in counts if c.group == CONTROL_GROUP), None)
    rows = []
    for c in counts:
        delivered = c.delivered if receipts else c.sent
        cost = c.sent * cost_per_message
        is_control = c.group == CONTROL_GROUP
        row: dict[str, Any] = {
            "group": c.group,
            "weight": c.weight,
            "targeted": c.targeted,
            "sent": c.sent,
            "failed": c.failed,
            "suppressed": c.suppressed,
            "delivered": delivered,
            "opened": c.opened,
            "clicked": c.clicked,
            "converted": c.converted,
            "revenue": round(c.revenue, 2),
            "cost": round(cost, 2),
            "ctr": None if is_control else _rate(c.clicked, delivered),
            "cvr": _rate(c.converted, c.targeted if is_control else delivered),
            "conversion_per_targeted": _rate(c.converted, c.targeted),
            "revenue_per_user": c.revenue / c.targeted if c.targeted else None,
            "roi": (c.revenue - cost) / cost if cost > 0 else None,
            "uplift": None,
            "uplift_relative": None,
            "uplift_low": None,
            "uplift_high": None,
            "uplift_relative_low": None,
            "uplift_relative_high": None,
            "p_value": None,
        }
        if control is not None and not is_control and c.targeted and control.targeted:
            low, high = difference_interval(
                c.converted, c.targeted, control.converted, control.targeted
            )
            _, p = two_proportion_ztest(
                c.converted, c.targeted, control.converted, control.targeted
            )
            ratio_low, ratio_high = ratio_interval(
                c.converted, c.targeted, control.converted, control.targeted
            )
            base = control.converted / control.targeted
            diff = c.converted / c.targeted - base
            row.update(
                uplift=diff,
                uplift_relative=diff / base if base else None,
                uplift_low=float(low),
                uplift_high=float(high),
                uplift_relative_low=_defined(float(ratio_low) - 1),
                uplift_relative_high=_defined(float(ratio_high) - 1),
                p_value=None if p != p else float(p),  # NaN: no variance (all 0 or all 1)
            )
        rows.append(row)
    return rows


def verdict(rows: list[dict[str, Any]], srm: SrmResult) -> list[str]:
    """Plain-language findings: the SRM warning, each variant against the control, the best
    variant against the others."""
    lines = []
    if srm.mismatch:
        lines.append(
            f"WARNING: sample ratio mismatch (chi-square p={srm.p_value:.2g}): the groups are "
            "not the sizes the weights promise; do not trust the comparisons"
        )
    variants = [r for r in rows if r["group"] != CONTROL_GROUP]
    for r in variants:
        if r["uplift"] is None:
            continue
        significant = r["p_value"] is not None and r["p_value"] < ALPHA
        interval = f"95% CI {_pts(r['uplift_low'])} to {_pts(r['uplift_high'])}"
        if significant:
            word = "lifts" if r["uplift"] > 0 else "lowers"
            lines.append(
                f"{r['group']} {word} conversion against the control by {_pts(r['uplift'])} "
                f"({interval}, {_p(r['p_value'])})"
            )
        else:
            lines.append(
                f"{r['group']}: no significant change in conversion against the control "
                f"({_pts(r['uplift'])}, {interval}, {_p(r['p_value'])})"
            )
    ranked = sorted(
        (r for r in variants if r["targeted"]),
        key=lambda r: -(r["conversion_per_targeted"] or 0),
    )
    if len(ranked) >= 2:
        best = ranked[0]
        for other in ranked[1:]:
            _, p = two_proportion_ztest(
                best["converted"], best["targeted"], other["converted"], other["targeted"]
            )
            p_value = None if p != p else float(p)
            diff = best["conversion_per_targeted"] - other["conversion_per_targeted"]
            if p_value is not None and p_value < ALPHA:
                lines.append(
                    f"{best['group']} beats {other['group']} on conversion, {_pts(diff)}, "
                    f"{_p(p_value)}"
                )
            else:
                lines.append(
                    f"{best['group']} and {other['group']} convert alike ({_pts(diff)}, "
                    f"{_p(p_value)})"
                )
    return lines
