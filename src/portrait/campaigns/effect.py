"""Campaign effect: funnel, rates, ROI and uplift against the control holdout.

Counts per group come from the delivery records, the response events and the orders; this
module turns them into the report (no I/O). Definitions:

- **targeted**: users assigned to the group (sent, failed, suppressed alike: the comparison is
  by assignment, "intent to treat", so capping or failures cannot bias it);
- **delivered**: users with a ``delivered`` response; when the campaign has no delivery
  receipts at all, the users sent to;
- **CTR** = clicked / delivered; **CVR** = converted / delivered (the control, which receives
  nothing, per targeted user: its clicks and conversions are organic);
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
            # the control is reached by nothing: its rates are per targeted (organic) user
            "ctr": _rate(c.clicked, c.targeted if is_control else delivered),
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


def verdict(
    rows: list[dict[str, Any]], srm: SrmResult, comparisons: list[dict[str, Any]]
) -> list[str]:
    """Plain-language findings: the SRM warning, then each metric's comparisons (each pair:
    the test, the corrected p-value, significant or not, underpowered or not; see
    :mod:`portrait.campaigns.experiment`). Comparisons without users on a side (nobody
    clicked, say) are left out."""
    lines = []
    if srm.mismatch:
        lines.append(
            f"WARNING: sample ratio mismatch (chi-square p={srm.p_value:.2g}): the groups are "
            "not the sizes the weights promise; do not trust the comparisons"
        )
    lines += [c["verdict"] for c in comparisons if c["n_baseline"] and c["n_group"]]
    return lines
