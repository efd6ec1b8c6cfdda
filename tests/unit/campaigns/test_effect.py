"""The effect report's arithmetic (portrait/campaigns/effect.py): the funnel and rates by
their definitions, uplift intervals and p-values against statsmodels, and the verdict."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from portrait.campaigns.effect import GroupCounts, group_rows, verdict
from portrait.stats.srm import SrmResult, srm_test


def counts(group: str, targeted: int, converted: int, **more: float) -> GroupCounts:
    values: dict[str, float] = {
        "weight": 10.0,
        "sent": 0,
        "failed": 0,
        "suppressed": 0,
        "delivered": 0,
        "opened": 0,
        "clicked": 0,
        "revenue": 0.0,
    }
    values.update(more)
    return GroupCounts(
        group=group,
        weight=values["weight"],
        targeted=targeted,
        sent=int(values["sent"]),
        failed=int(values["failed"]),
        suppressed=int(values["suppressed"]),
        delivered=int(values["delivered"]),
        opened=int(values["opened"]),
        clicked=int(values["clicked"]),
        converted=converted,
        revenue=values["revenue"],
    )


CONTROL = counts("control", 1000, 50, revenue=2000.0)
A = counts(
    "A",
    5000,
    400,
    weight=45,
    sent=4900,
    failed=60,
    suppressed=40,
    delivered=4800,
    opened=2000,
    clicked=600,
    revenue=20000.0,
)
B = counts("B", 5000, 330, weight=45, sent=5000, delivered=4900, clicked=500, revenue=9000.0)
NO_SRM = SrmResult((1000, 5000, 5000), (1000.0, 5000.0, 5000.0), 0.0, 1.0)


def by_group(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["group"]): r for r in rows}


def test_the_funnel_and_rates_follow_their_definitions() -> None:
    rows = by_group(group_rows([CONTROL, A, B], cost_per_message=0.5, receipts=True))
    a = rows["A"]
    assert (a["targeted"], a["sent"], a["failed"], a["suppressed"]) == (5000, 4900, 60, 40)
    assert (a["delivered"], a["opened"], a["clicked"], a["converted"]) == (4800, 2000, 600, 400)
    assert a["ctr"] == 600 / 4800  # clicked / delivered
    assert a["cvr"] == 400 / 4800  # converted / delivered
    assert a["conversion_per_targeted"] == 400 / 5000
    assert a["cost"] == 2450.0  # sent × cost per message
    assert a["revenue"] == 20000.0 and a["revenue_per_user"] == 4.0
    assert a["roi"] == pytest.approx((20000 - 2450) / 2450)
    control = rows["control"]
    assert control["ctr"] == 0 / 1000  # organic clicks per targeted user: none here
    assert control["cvr"] == 50 / 1000  # converted / targeted
    assert control["cost"] == 0.0 and control["roi"] is None  # no cost: no ROI
    assert control["uplift"] is None and control["p_value"] is None


def test_without_delivery_receipts_the_users_sent_to_count_as_delivered() -> None:
    rows = by_group(group_rows([CONTROL, A], cost_per_message=0.0, receipts=False))
    assert rows["A"]["delivered"] == 4900
    assert rows["A"]["ctr"] == 600 / 4900 and rows["A"]["cvr"] == 400 / 4900
    assert rows["A"]["roi"] is None  # free messages


@pytest.mark.parametrize(
    ("variant", "control"),
    [
        ((400, 5000), (50, 1000)),
        ((330, 5000), (50, 1000)),
        ((12, 80), (30, 95)),  # a variant that does worse
        ((1, 20000), (3, 19000)),  # rare conversions
    ],
)
def test_uplift_interval_and_p_value_match_statsmodels(
    variant: tuple[int, int], control: tuple[int, int]
) -> None:
    (x1, n1), (x0, n0) = variant, control
    rows = by_group(
        group_rows([counts("control", n0, x0), counts("A", n1, x1)], 0.0, receipts=False)
    )
    a = rows["A"]
    assert a["uplift"] == pytest.approx(x1 / n1 - x0 / n0, abs=1e-15)
    low, high = confint_proportions_2indep(x1, n1, x0, n0, method="wald", compare="diff")
    assert a["uplift_low"] == pytest.approx(low, rel=1e-9)
    assert a["uplift_high"] == pytest.approx(high, rel=1e-9)
    _, p = proportions_ztest([x1, x0], [n1, n0])
    assert a["p_value"] == pytest.approx(p, rel=1e-9)
    assert a["uplift_relative"] == pytest.approx((x1 / n1) / (x0 / n0) - 1, rel=1e-12)
    ratio_low, ratio_high = confint_proportions_2indep(
        x1, n1, x0, n0, method="log", compare="ratio"
    )
    assert a["uplift_relative_low"] == pytest.approx(ratio_low - 1, rel=1e-9)
    assert a["uplift_relative_high"] == pytest.approx(ratio_high - 1, rel=1e-9)


def test_undefined_comparisons_are_none_not_nan() -> None:
    # no conversion in the control: the relative uplift and its interval are undefined
    rows = by_group(group_rows([counts("control", 500, 0), counts("A", 500, 20)], 0.0, False))
    a = rows["A"]
    assert a["uplift"] == 0.04 and a["uplift_relative"] is None
    assert a["uplift_relative_low"] is None and a["uplift_relative_high"] is None
    assert a["p_value"] is not None
    # nobody converted anywhere: no variance, so no p-value
    flat = by_group(group_rows([counts("control", 500, 0), counts("A", 500, 0)], 0.0, False))
    assert flat["A"]["uplift"] == 0.0 and flat["A"]["p_value"] is None
    for value in flat["A"].values():
        assert not (isinstance(value, float) and math.isnan(value))
    # without a control, or with an empty group, there is nothing to compare
    alone = by_group(group_rows([A, B], 0.0, True))
    assert alone["A"]["uplift"] is None and alone["B"]["p_value"] is None
    empty = by_group(group_rows([counts("control", 0, 0), A], 0.0, True))
    assert empty["A"]["uplift"] is None
    assert empty["control"]["cvr"] is None and empty["control"]["revenue_per_user"] is None


def test_the_verdict_warns_of_a_sample_ratio_mismatch_first() -> None:
    observed, weights = [900, 5100, 5000], [10, 45, 45]
    srm = srm_test(observed, weights)
    chi2, p = scipy_stats.chisquare(observed, [11000 * w / 100 for w in weights])
    assert srm.p_value == pytest.approx(p) and srm.mismatch
    lines = verdict(group_rows([CONTROL, A], 0.0, True), srm, [])
    assert lines[0] == (
        f"WARNING: sample ratio mismatch (chi-square p={p:.2g}): the groups are not the "
        "sizes the weights promise; do not trust the comparisons"
    )
    assert chi2 == pytest.approx(srm.chi2)
