"""An experiment's comparisons (portrait/campaigns/experiment.py) checked through their public
behaviour against independent references: statsmodels' proportion tests and intervals,
SciPy's Welch test, statsmodels' corrections, OLS and power, and formulas written out here.
None of the checks calls the project's own statistics functions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import integrate
from scipy import stats as scipy_stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from portrait.campaigns.experiment import (
    METRICS,
    GroupData,
    Metric,
    Options,
    compare_groups,
    event_metric,
    pairs,
)

REL = 1e-9
PROPORTIONS = ("click_rate", "conversion_rate", "click_to_conversion", "event:signup")
MEANS = ("revenue_per_user", "revenue_per_converter")
SIGNUP = event_metric("signup")
NEVER = event_metric("never")  # nobody has it: no p-value, no pre-period covariate
ALL_METRICS: tuple[Metric, ...] = (*METRICS, SIGNUP, NEVER)

Floats = npt.NDArray[np.float64]


def close(ours: Any, reference: Any, rel: float = REL, abs_tol: float = 1e-12) -> bool:
    assert ours is not None, "a defined number was expected"
    return math.isclose(ours, float(reference), rel_tol=rel, abs_tol=abs_tol)


def make_group(
    name: str, n: int, rng: np.random.Generator, *, click: float, lift: float
) -> GroupData:
    """Users with a propensity shared by their pre-period and in-window behaviour (so CUPED
    has something to remove); converters have lognormal revenues."""
    propensity = rng.gamma(2.0, 0.5, n)
    orders = rng.poisson(2.0 * propensity).astype(np.float64)
    amount = orders * rng.lognormal(3.0, 0.5, n)
    clicked = rng.random(n) < click
    p_convert = np.clip(0.06 * propensity * (1 + lift) + 0.08 * clicked, 0, 1)
    converted = rng.random(n) < p_convert
    revenue = np.where(converted, rng.lognormal(3.0, 0.8, n) * (0.5 + 0.5 * propensity), 0.0)
    signup = rng.random(n) < np.clip(0.15 * propensity * (1 + lift), 0, 1)
    return GroupData(
        group=name,
        clicked=clicked,
        converted=converted,
        revenue=revenue,
        events={"signup": signup, "never": np.zeros(n, dtype=np.bool_)},
        pre={
            "orders": orders,
            "amount": amount,
            "event:signup": rng.poisson(propensity).astype(np.float64),
        },
    )


def _groups() -> list[GroupData]:
    rng = np.random.default_rng(20261107)
    return [
        make_group("control", 3000, rng, click=0.02, lift=0.0),
        make_group("A", 3000, rng, click=0.10, lift=0.25),
        make_group("B", 2500, rng, click=0.12, lift=0.05),
    ]


GROUPS = _groups()
BY_NAME = {g.group: g for g in GROUPS}
PAIRS = [("control", "A"), ("control", "B"), ("A", "B")]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return compare_groups(GROUPS, ALL_METRICS, Options())


def row_of(rows: list[dict[str, Any]], metric: str, baseline: str, group: str) -> dict[str, Any]:
    found = [
        r for r in rows if (r["metric"], r["baseline"], r["group"]) == (metric, baseline, group)
    ]
    assert len(found) == 1
    return found[0]


def unit_values(group: GroupData, metric: str) -> Floats:
    """The per-unit values of a metric, from the raw arrays (written independently)."""
    if metric == "click_rate":
        return group.clicked.astype(np.float64)
    if metric == "conversion_rate":
        return group.converted.astype(np.float64)
    if metric == "click_to_conversion":
        return group.converted[group.clicked].astype(np.float64)
    if metric == "revenue_per_user":
        return group.revenue
    if metric == "revenue_per_converter":
        return group.revenue[group.converted]
    return group.events[metric.removeprefix("event:")].astype(np.float64)


def flags(n: int, ones: int) -> npt.NDArray[np.bool_]:
    return np.arange(n) < ones


def counted(name: str, n: int, clicks: int, conversions: int, revenue: float = 0.0) -> GroupData:
    """A group given by its counts (the first users click; the first users convert)."""
    converted = flags(n, conversions)
    return GroupData(name, flags(n, clicks), converted, np.where(converted, revenue, 0.0))


# --- pairs, Options, GroupData.values, event_metric ---------------------------------------


def test_pairs_with_a_control_then_variant_pairs() -> None:
    assert pairs(["control", "A", "B", "C"]) == [
        ("control", "A"),
        ("control", "B"),
        ("control", "C"),
        ("A", "B"),
        ("A", "C"),
        ("B", "C"),
    ]
    # the control's position in the list does not matter
    assert pairs(["A", "control", "B"]) == [("control", "A"), ("control", "B"), ("A", "B")]


def test_pairs_without_a_control_are_variant_pairs_only() -> None:
    assert pairs(["A", "B", "C"]) == [("A", "B"), ("A", "C"), ("B", "C")]
    assert pairs(["A"]) == []
    assert pairs(["control", "A"]) == [("control", "A")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 1.0}, "level"),
        ({"level": 0.3}, "level"),
        ({"level": 95.0}, "level"),
        ({"level": math.nan}, "level"),
        ({"correction": "bonferroni"}, "correction"),
        ({"relative_interval": "score"}, "relative interval"),
        ({"prior_sd": 0.0}, "prior"),
        ({"prior_sd": -0.1}, "prior"),
        ({"tuning": 0.0}, "tuning"),
        ({"tuning": -10.0}, "tuning"),
        ({"power": 0.0}, "power"),
        ({"power": 1.0}, "power"),
        ({"power": 1.5}, "power"),
    ],
)
def test_options_reject_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Options(**kwargs)


def test_options_defaults() -> None:
    options = Options()
    assert (options.level, options.correction, options.relative_interval) == (0.95, "holm", "log")
    assert options.sequential is False and options.cuped is True and options.prior_sd is None
    assert options.power == 0.8
    assert math.isclose(options.alpha, 0.05)
    Options(level=0.5, correction="bh", relative_interval="log-adjusted", prior_sd=0.1)
    Options(correction="none", power=0.99, tuning=1.0)


def test_a_power_at_or_below_alpha_and_an_infinite_tuning_are_refused() -> None:
    # alpha is 0.05: every effect, even 0, is found that often; no MDE could be solved for
    with pytest.raises(ValueError, match="the power must be above alpha"):
        Options(power=0.04)
    with pytest.raises(ValueError, match="the sequential tuning must be a positive number"):
        Options(sequential=True, tuning=math.inf)


def test_event_metric() -> None:
    metric = event_metric("signup")
    assert metric.name == "event:signup"
    assert metric.kind == "proportion"
    assert metric.covariate == "event:signup"
    assert "signup" in metric.label


def test_group_values_per_metric() -> None:
    group = GroupData(
        "A",
        clicked=np.array([True, True, False, False, True]),
        converted=np.array([True, False, True, False, False]),
        revenue=np.array([10.0, 0.0, 7.5, 0.0, 0.0]),
        events={"signup": np.array([False, True, True, False, False])},
        pre={
            "orders": np.array([1.0, 0.0, 2.0, 0.0, 3.0]),
            "amount": np.array([5.0, 0.0, 9.0, 0.0, 1.0]),
            "event:signup": np.array([0.0, 1.0, 1.0, 2.0, 0.0]),
        },
    )
    by_name = {m.name: m for m in METRICS}
    expected = {
        "click_rate": ([1, 1, 0, 0, 1], None),
        "conversion_rate": ([1, 0, 1, 0, 0], "orders"),
        "click_to_conversion": ([1, 0, 0], None),
        "revenue_per_user": ([10.0, 0.0, 7.5, 0.0, 0.0], "amount"),
        "revenue_per_converter": ([10.0, 7.5], None),
    }
    for name, (y, covariate) in expected.items():
        values, pre = group.values(by_name[name])
        assert values.dtype == np.float64
        assert values.tolist() == y
        if covariate is None:
            assert pre is None
        else:
            assert pre is not None and pre.tolist() == group.pre[covariate].tolist()
    values, pre = group.values(event_metric("signup"))
    assert values.tolist() == [0, 1, 1, 0, 0]
    assert pre is not None and pre.tolist() == [0.0, 1.0, 1.0, 2.0, 0.0]
    # no pre-period value recorded: no covariate
    bare = GroupData("B", group.clicked, group.converted, group.revenue, dict(group.events))
    assert bare.values(by_name["conversion_rate"])[1] is None
    assert group.size == 5


def test_one_row_per_metric_and_pair(rows: list[dict[str, Any]]) -> None:
    assert [(r["metric"], r["baseline"], r["group"]) for r in rows] == [
        (m.name, a, b) for m in ALL_METRICS for a, b in PAIRS
    ]
    for r in rows:
        assert r["kind"] == ("mean" if r["metric"] in MEANS else "proportion")
        assert r["n_baseline"] == unit_values(BY_NAME[r["baseline"]], r["metric"]).size
        assert r["n_group"] == unit_values(BY_NAME[r["group"]], r["metric"]).size


# --- proportions against statsmodels -----------------------------------------------------


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_proportions_match_statsmodels(level: float) -> None:
    alpha = 1 - level
    fixed = compare_groups(GROUPS, ALL_METRICS, Options(level=level))
    adjusted = compare_groups(
        GROUPS, ALL_METRICS, Options(level=level, relative_interval="log-adjusted")
    )
    for metric in PROPORTIONS:
        for base, treat in PAIRS:
            row = row_of(fixed, metric, base, treat)
            yb, yt = unit_values(BY_NAME[base], metric), unit_values(BY_NAME[treat], metric)
            xb, nb, xt, nt = int(yb.sum()), yb.size, int(yt.sum()), yt.size
            pb, pt = xb / nb, xt / nt
            assert row["test"] == "two-proportion z-test"
            assert close(row["value_baseline"], pb) and close(row["value_group"], pt)
            assert close(row["difference"], pt - pb)
            assert close(row["relative"], (pt - pb) / pb)
            z, p = proportions_ztest([xt, xb], [nt, nb])
            assert close(row["statistic"], z) and close(row["p_value"], p, abs_tol=1e-300)
            low, high = confint_proportions_2indep(xt, nt, xb, nb, method="wald", alpha=alpha)
            assert close(row["low"], low) and close(row["high"], high)
            low, high = confint_proportions_2indep(xt, nt, xb, nb, method="newcomb", alpha=alpha)
            assert close(row["newcomb_low"], low) and close(row["newcomb_high"], high)
            low, high = confint_proportions_2indep(
                xt, nt, xb, nb, method="log", compare="ratio", alpha=alpha
            )
            assert row["relative_method"] == "log (Katz)"
            assert close(row["relative_low"], low - 1) and close(row["relative_high"], high - 1)
            other = row_of(adjusted, metric, base, treat)
            low, high = confint_proportions_2indep(
                xt, nt, xb, nb, method="log-adjusted", compare="ratio", alpha=alpha
            )
            assert other["relative_method"] == "log-adjusted"
            assert close(other["relative_low"], low - 1)
            assert close(other["relative_high"], high - 1)
            # the option changes the relative interval only
            assert other["low"] == row["low"] and other["p_value"] == row["p_value"]


def test_treatment_minus_baseline_sign() -> None:
    rows = compare_groups(
        [counted("control", 2000, 0, 100), counted("A", 2000, 0, 160)], [METRICS[1]], Options()
    )
    row = rows[0]
    assert (row["baseline"], row["group"]) == ("control", "A")
    assert close(row["difference"], 0.03) and close(row["relative"], 0.6)
    assert row["statistic"] > 0 and row["low"] > 0 and row["relative_low"] > 0


def test_a_zero_count_leaves_the_log_interval_undefined_not_the_adjusted_one() -> None:
    groups = [counted("control", 1500, 0, 0), counted("A", 1500, 0, 12)]
    katz = compare_groups(groups, [METRICS[1]], Options())[0]
    assert katz["relative_low"] is None and katz["relative_high"] is None
    assert katz["relative"] is None  # relative to a baseline of 0
    adjusted = compare_groups(groups, [METRICS[1]], Options(relative_interval="log-adjusted"))[0]
    low, high = confint_proportions_2indep(
        12, 1500, 0, 1500, method="log-adjusted", compare="ratio"
    )
    assert close(adjusted["relative_low"], low - 1) and close(adjusted["relative_high"], high - 1)
    _, p = proportions_ztest([12, 0], [1500, 1500])
    assert close(katz["p_value"], p)


# --- means against SciPy -----------------------------------------------------------------


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_means_match_scipy_welch(level: float) -> None:
    computed = compare_groups(GROUPS, METRICS, Options(level=level))
    z = scipy_stats.norm.ppf(0.5 + level / 2)
    for metric in MEANS:
        for base, treat in PAIRS:
            row = row_of(computed, metric, base, treat)
            yb, yt = unit_values(BY_NAME[base], metric), unit_values(BY_NAME[treat], metric)
            ref = scipy_stats.ttest_ind(yt, yb, equal_var=False)
            assert row["test"] == "Welch's t-test"
            assert close(row["statistic"], ref.statistic)
            assert close(row["p_value"], ref.pvalue, abs_tol=1e-300)
            assert close(row["df"], ref.df)
            interval = ref.confidence_interval(level)
            assert close(row["low"], interval.low) and close(row["high"], interval.high)
            mb, mt = float(yb.mean()), float(yt.mean())
            assert close(row["value_baseline"], mb) and close(row["value_group"], mt)
            assert close(row["difference"], mt - mb) and close(row["relative"], (mt - mb) / mb)
            # delta method: Var((t − c)/c) ≈ v_t/(c² n_t) + v_c·t²/(c⁴ n_c)
            vb, vt = float(yb.var(ddof=1)), float(yt.var(ddof=1))
            se = math.sqrt(vt / (mb**2 * yt.size) + vb * mt**2 / (mb**4 * yb.size))
            rel = (mt - mb) / mb
            assert row["relative_method"] == "delta method"
            assert close(row["relative_low"], rel - z * se)
            assert close(row["relative_high"], rel + z * se)


# --- the multiple-comparison correction --------------------------------------------------


@pytest.mark.parametrize(
    ("correction", "reference"), [("holm", "holm"), ("bh", "fdr_bh"), ("none", None)]
)
def test_correction_across_all_rows(correction: str, reference: str | None) -> None:
    options = Options(correction=correction)  # type: ignore[arg-type]
    computed = compare_groups(GROUPS, ALL_METRICS, options)
    missing = [r for r in computed if r["p_value"] is None]
    present = [r for r in computed if r["p_value"] is not None]
    assert [r["metric"] for r in missing] == ["event:never"] * 3
    assert all(r["p_adjusted"] is None and r["significant"] is False for r in missing)
    p = np.array([r["p_value"] for r in present])
    expected = p if reference is None else multipletests(p, method=reference)[1]
    for r, e in zip(present, expected, strict=True):
        assert close(r["p_adjusted"], e, abs_tol=1e-300)
        assert r["significant"] is (r["p_adjusted"] < options.alpha)
    assert any(r["significant"] for r in present) and not all(r["significant"] for r in present)


# --- Bayesian ----------------------------------------------------------------------------


def posterior_moments(row: dict[str, Any], prior_sd: float | None) -> tuple[float, float]:
    """The relative effect's posterior mean and sd, written out from the delta method."""
    yb = unit_values(BY_NAME[row["baseline"]], row["metric"])
    yt = unit_values(BY_NAME[row["group"]], row["metric"])
    mb, mt = float(yb.mean()), float(yt.mean())
    if row["kind"] == "proportion":  # unit variance p(1 − p)
        vb, vt = mb * (1 - mb), mt * (1 - mt)
    else:
        vb, vt = float(yb.var(ddof=1)), float(yt.var(ddof=1))
    rel = (mt - mb) / mb
    var = vt / (mb**2 * yt.size) + vb * mt**2 / (mb**4 * yb.size)
    if prior_sd is None:
        return rel, math.sqrt(var)
    precision = 1 / var + 1 / prior_sd**2
    return (rel / var) / precision, math.sqrt(1 / precision)


def expected_positive_part(mu: float, sd: float) -> float:
    """E[max(d, 0)] for d ~ N(mu, sd²), by numerical integration."""
    value, _ = integrate.quad(
        lambda d: d * math.exp(-0.5 * ((d - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
        0,
        max(mu, 0) + 12 * sd,
        epsabs=0,
        epsrel=1e-12,
        limit=200,
    )
    return float(value)


@pytest.mark.parametrize("prior_sd", [None, 0.05])
def test_bayes_posterior_by_hand(prior_sd: float | None) -> None:
    level = 0.9
    computed = compare_groups(GROUPS, (*METRICS, SIGNUP), Options(level=level, prior_sd=prior_sd))
    z = scipy_stats.norm.ppf(0.5 + level / 2)
    for row in computed:
        mu, sd = posterior_moments(row, prior_sd)
        bayes = row["bayes"]
        assert close(bayes["mean"], mu)
        assert close(bayes["chance_to_win"], scipy_stats.norm.cdf(mu / sd))
        assert close(bayes["low"], mu - z * sd) and close(bayes["high"], mu + z * sd)
        # expected loss of choosing the baseline: E[max(d, 0)]; of the group: E[max(−d, 0)]
        phi, cdf = scipy_stats.norm.pdf(mu / sd), scipy_stats.norm.cdf(mu / sd)
        risk_baseline = sd * phi + mu * cdf
        risk_group = sd * phi - mu * scipy_stats.norm.cdf(-mu / sd)
        assert bayes["risk_baseline"] >= 0 and bayes["risk_group"] >= 0
        assert close(bayes["risk_baseline"], risk_baseline, rel=1e-7, abs_tol=1e-15)
        assert close(bayes["risk_group"], risk_group, rel=1e-7, abs_tol=1e-15)
        assert close(
            bayes["risk_baseline"], expected_positive_part(mu, sd), rel=1e-6, abs_tol=1e-13
        )
        assert close(bayes["risk_group"], expected_positive_part(-mu, sd), rel=1e-6, abs_tol=1e-13)
        assert close(bayes["risk_baseline"] - bayes["risk_group"], mu, rel=1e-7, abs_tol=1e-13)


def test_a_prior_shrinks_toward_zero(rows: list[dict[str, Any]]) -> None:
    shrunk = compare_groups(GROUPS, ALL_METRICS, Options(prior_sd=0.02))
    for flat, prior in zip(rows, shrunk, strict=True):
        if flat["bayes"]["mean"] is None:
            assert prior["bayes"]["mean"] is None
            continue
        assert abs(prior["bayes"]["mean"]) < abs(flat["bayes"]["mean"])
        assert (
            prior["bayes"]["high"] - prior["bayes"]["low"]
            < flat["bayes"]["high"] - flat["bayes"]["low"]
        )


# --- CUPED -------------------------------------------------------------------------------


COVARIATES = {
    "conversion_rate": "orders",
    "revenue_per_user": "amount",
    "event:signup": "event:signup",
}


def test_cuped_is_the_ancova_treatment_coefficient(rows: list[dict[str, Any]]) -> None:
    for metric, covariate in COVARIATES.items():
        for base, treat in PAIRS:
            row = row_of(rows, metric, base, treat)
            b, t = BY_NAME[base], BY_NAME[treat]
            yb, yt = unit_values(b, metric), unit_values(t, metric)
            xb, xt = b.pre[covariate], t.pre[covariate]
            y = np.concatenate([yb, yt])
            x = np.concatenate([xb, xt])
            treated = np.concatenate([np.zeros(yb.size), np.ones(yt.size)])
            fit = OLS(y, np.column_stack([np.ones(y.size), treated, x])).fit()
            cuped = row["cuped"]
            assert cuped is not None
            assert close(cuped["difference"], fit.params[1], rel=1e-8)
            assert close(cuped["theta"], fit.params[2], rel=1e-8)
            theta = float(fit.params[2])
            center = float(x.mean())
            ab, at = yb - theta * (xb - center), yt - theta * (xt - center)
            ref = scipy_stats.ttest_ind(at, ab, equal_var=False)
            interval = ref.confidence_interval(0.95)
            assert close(cuped["p_value"], ref.pvalue, rel=1e-6, abs_tol=1e-300)
            assert close(cuped["low"], interval.low, rel=1e-8)
            assert close(cuped["high"], interval.high, rel=1e-8)
            before = yb.var(ddof=1) / yb.size + yt.var(ddof=1) / yt.size
            after = ab.var(ddof=1) / ab.size + at.var(ddof=1) / at.size
            assert close(cuped["variance_reduction"], 1 - after / before, rel=1e-8)
            assert cuped["variance_reduction"] > 0.01  # the pre-period carries information
            # narrower than the unadjusted interval
            assert cuped["high"] - cuped["low"] < row["high"] - row["low"]


def test_cuped_only_where_a_pre_period_value_exists(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        assert (row["cuped"] is not None) is (row["metric"] in COVARIATES)
    off = compare_groups(GROUPS, ALL_METRICS, Options(cuped=False))
    assert all(row["cuped"] is None for row in off)


# --- sequential --------------------------------------------------------------------------


def test_sequential_interval_contains_the_fixed_one_and_decides() -> None:
    computed = compare_groups(GROUPS, ALL_METRICS, Options(sequential=True))
    checked = 0
    for row in computed:
        seq = row["sequential"]
        assert seq is not None
        if seq["low"] is None:
            assert row["metric"] == "event:never" and row["significant"] is False
            continue
        checked += 1
        assert seq["low"] < row["low"] and seq["high"] > row["high"]
        assert row["significant"] is (seq["low"] > 0 or seq["high"] < 0)
        assert "always-valid 95% CI" in row["verdict"]
    assert checked == len(computed) - 3


def test_sequential_overrules_the_p_value() -> None:
    # 10% vs 12.5% of 2,000 each: p ≈ 0.012 at a fixed horizon, inside the always-valid one
    groups = [counted("control", 2000, 0, 200), counted("A", 2000, 0, 250)]
    fixed = compare_groups(groups, [METRICS[1]], Options())[0]
    assert fixed["p_adjusted"] < 0.05 and fixed["significant"] is True
    assert fixed["sequential"] is None
    peeking = compare_groups(groups, [METRICS[1]], Options(sequential=True))[0]
    assert peeking["p_adjusted"] == fixed["p_adjusted"]
    assert peeking["sequential"]["low"] < 0 < peeking["sequential"]["high"]
    assert peeking["significant"] is False
    assert ": not significant" in peeking["verdict"]


def test_no_sequential_unless_asked(rows: list[dict[str, Any]]) -> None:
    assert all(row["sequential"] is None for row in rows)


# --- MDE and underpowered ----------------------------------------------------------------


@pytest.mark.parametrize("target", [0.8, 0.9])
def test_power_at_the_mde_is_the_target(target: float) -> None:
    computed = compare_groups(GROUPS, (*METRICS, SIGNUP), Options(power=target))
    z = scipy_stats.norm.ppf(0.975)
    for row in computed:
        yb = unit_values(BY_NAME[row["baseline"]], row["metric"])
        yt = unit_values(BY_NAME[row["group"]], row["metric"])
        nb, nt = yb.size, yt.size
        mde = row["mde"]
        assert mde is not None and mde > 0
        if row["kind"] == "proportion":
            p = float(yb.mean())
            q = p + mde
            se = math.sqrt(p * (1 - p) / nb + q * (1 - q) / nt)
            achieved = scipy_stats.norm.cdf(mde / se - z) + scipy_stats.norm.cdf(-mde / se - z)
        else:
            pooled = ((nb - 1) * yb.var(ddof=1) + (nt - 1) * yt.var(ddof=1)) / (nb + nt - 2)
            achieved = NormalIndPower().power(
                effect_size=mde / math.sqrt(pooled), nobs1=nb, alpha=0.05, ratio=nt / nb
            )
        assert math.isclose(achieved, target, abs_tol=1e-8)


def test_a_small_experiment_is_underpowered_a_large_one_is_not() -> None:
    # a real lift of 10% → 12% conversion
    small = compare_groups(
        [counted("control", 400, 0, 40), counted("A", 400, 0, 48)], [METRICS[1]], Options()
    )[0]
    assert small["significant"] is False
    assert small["mde"] > abs(small["difference"])
    assert small["underpowered"] is True
    assert "underpowered" in small["verdict"]
    assert f"{small['mde'] * 100:.2f} pts or more are found with 80% power" in small["verdict"]
    large = compare_groups(
        [counted("control", 20000, 0, 2000), counted("A", 20000, 0, 2400)], [METRICS[1]], Options()
    )[0]
    assert large["significant"] is True
    assert large["mde"] < abs(large["difference"])
    assert large["underpowered"] is False
    assert "underpowered" not in large["verdict"]


# --- verdicts ----------------------------------------------------------------------------


def formatted_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


@pytest.mark.parametrize(
    ("correction", "words"),
    [("holm", "Holm-corrected p="), ("bh", "Benjamini–Hochberg-corrected p="), ("none", None)],
)
def test_verdict_sentences(correction: str, words: str | None) -> None:
    options = Options(correction=correction)  # type: ignore[arg-type]
    computed = compare_groups(GROUPS, ALL_METRICS, options)
    significant = 0
    for row in computed:
        verdict = row["verdict"]
        assert verdict.startswith(f"{row['label']}, {row['group']} vs {row['baseline']}: ")
        if row["p_value"] is None:
            assert "no variation" in verdict
            continue
        assert f"{row['test']} p={formatted_p(row['p_value'])}" in verdict
        if words is None:
            assert "corrected" not in verdict
        else:
            assert f"{words}{formatted_p(row['p_adjusted'])}" in verdict
        assert verdict.count("not significant") == (0 if row["significant"] else 1)
        if row["significant"]:
            assert ": significant" in verdict
            significant += 1
        chance = row["bayes"]["chance_to_win"]
        assert f"chance to beat {row['baseline']} {chance * 100:.1f}%" in verdict
        assert (
            f"95% CI {row['low'] * 100 if row['kind'] == 'proportion' else row['low']:+.2f}"
            in verdict
        )
    assert 0 < significant < len(computed) - 3
    assert {r["test"] for r in computed} == {"two-proportion z-test", "Welch's t-test"}


def test_no_variation_when_nobody_has_revenue() -> None:
    groups = [counted("control", 500, 50, 20), counted("A", 500, 60, 25)]  # revenue 0 each
    computed = compare_groups(groups, METRICS, Options(sequential=True))
    for name in MEANS:
        row = row_of(computed, name, "control", "A")
        assert row["no_variation"] is True
        assert "no variation" in row["verdict"]
        assert row["p_value"] is None and row["p_adjusted"] is None
        assert row["significant"] is False and row["underpowered"] is False
        assert row["relative"] is None and row["difference"] == 0.0
        assert all(v is None for v in row["bayes"].values())
        assert row["sequential"] == {"low": None, "high": None}
        assert row["mde"] is None
    assert row_of(computed, "conversion_rate", "control", "A")["no_variation"] is False


def test_no_users_to_compare_when_nobody_clicked() -> None:
    groups = [counted("control", 800, 0, 30), counted("A", 800, 90, 40, revenue=20.0)]
    computed = compare_groups(groups, METRICS, Options(sequential=True))
    row = row_of(computed, "click_to_conversion", "control", "A")
    assert (row["n_baseline"], row["n_group"]) == (0, 90)
    assert row["verdict"].endswith(": no users to compare")
    for key in ("value_baseline", "difference", "relative", "p_value", "p_adjusted", "low", "mde"):
        assert row[key] is None
    assert row["significant"] is False and row["underpowered"] is False
    # the other rows are unaffected
    assert row_of(computed, "click_rate", "control", "A")["p_value"] is not None


# --- output hygiene ----------------------------------------------------------------------


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def test_no_nan_and_only_plain_values(rows: list[dict[str, Any]]) -> None:
    degenerate = [
        counted("control", 300, 0, 0),
        counted("A", 300, 40, 1, revenue=5.0),  # one converter: no variance
        counted("B", 300, 30, 30, revenue=5.0),  # every clicker converts, all the same revenue
    ]
    outputs = [
        rows,
        compare_groups(
            GROUPS, ALL_METRICS, Options(sequential=True, prior_sd=0.1, correction="bh")
        ),
        compare_groups(degenerate, METRICS, Options(sequential=True)),
        compare_groups(degenerate, METRICS, Options(relative_interval="log-adjusted")),
    ]
    for computed in outputs:
        json.dumps(computed, allow_nan=False)
        for value in leaves(computed):
            assert value is None or type(value) in (float, int, bool, str), type(value)
            if type(value) is float:
                assert math.isfinite(value)
