"""The Bayesian effect agrees with GrowthBook's stats engine and with hand computation.

``gbstats_reference.json`` holds gbstats' own outputs (``tools/reference/gbstats_values.py``
writes it in a virtual environment of its own: gbstats cannot be installed beside Portrait).
Every number is a closed form on both sides (gbstats computes the risks through scipy's
truncated normal, Portrait by the closed form), so they agree to 1e-9 relative; in practice
to about 1e-13 at worst, in a far tail where the risk is 7.5e-16.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from portrait.stats.bayes import BayesResult, bayes_effect
from portrait.stats.summary import Arm, difference

REFERENCE = Path(__file__).with_name("gbstats_reference.json")
RTOL = 1e-9


def reference_cases(test: str) -> list[dict[str, Any]]:
    cases = json.loads(REFERENCE.read_text(encoding="utf-8"))["cases"]
    return [case for case in cases if case["test"] == test]


def arm(record: dict[str, Any]) -> Arm:
    return Arm(record["n"], record["mean"], record["variance"])


def all_nan(result: BayesResult) -> bool:
    numbers = (result.mean, result.sd, result.chance_to_win, result.low, result.high)
    return all(math.isnan(x) for x in (*numbers, result.risk_control, result.risk_treatment))


def close(ours: float, theirs: float) -> bool:
    return math.isclose(ours, theirs, rel_tol=RTOL, abs_tol=0.0)


@pytest.mark.parametrize(
    "case", reference_cases("EffectBayesianABTest"), ids=lambda case: case["name"]
)
def test_matches_gbstats(case: dict[str, Any]) -> None:
    options, theirs = case["options"], case["gbstats"]
    relative = options["difference_type"] == "relative"
    prior = options["prior"]
    prior_mean, prior_variance = prior["mean"], prior["variance"]
    control, treatment = arm(case["control"]), arm(case["treatment"])
    if prior["prior_type"] == "relative" and not relative:
        # gbstats states priors on the relative scale and rescales them by the control
        # mean for an absolute effect; bayes_effect takes the prior in the effect's units.
        prior_mean *= abs(control.mean)
        prior_variance *= control.mean**2
    ours = bayes_effect(
        control,
        treatment,
        relative=relative,
        prior_mean=prior_mean,
        prior_variance=prior_variance if prior["proper"] else None,
        level=1 - options["alpha"],
    )
    assert ours.relative is relative
    if theirs["error_message"]:
        # gbstats answers with an uninformative default (chance 0.5, zeros); we with NaN.
        assert all_nan(ours)
        return
    assert theirs["risk_type"] == ("relative" if relative else "absolute")
    assert close(ours.mean, theirs["expected"])
    assert close(ours.sd, theirs["uplift_stddev"])
    assert close(ours.chance_to_win, theirs["chance_to_win"])
    assert close(ours.low, theirs["ci"][0])
    assert close(ours.high, theirs["ci"][1])
    assert close(ours.risk_control, theirs["risk"][0])
    assert close(ours.risk_treatment, theirs["risk"][1])


def test_the_reference_covers_what_it_should() -> None:
    cases = reference_cases("EffectBayesianABTest")
    kinds = {case["control"]["source"]["kind"] for case in cases}
    types = {case["options"]["difference_type"] for case in cases}
    priors = {case["options"]["prior"]["proper"] for case in cases}
    alphas = {case["options"]["alpha"] for case in cases}
    assert kinds == {"proportion", "mean"} and types == {"relative", "absolute"}
    assert priors == {True, False} and len(alphas) >= 3
    signs = {math.copysign(1, case["gbstats"]["expected"]) for case in cases}
    assert signs == {1.0, -1.0}
    assert any(
        case["gbstats"]["expected"] == 0 and not case["gbstats"]["error_message"] for case in cases
    )


arms = st.builds(
    Arm,
    st.integers(2, 1_000_000),
    st.floats(0.01, 100),
    st.floats(0.01, 1e4),
)


@settings(max_examples=200, deadline=None)
@given(arms, arms, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_flat_prior_is_the_wald_interval_and_the_one_sided_p_value(
    control: Arm, treatment: Arm, level: float
) -> None:
    for relative in (False, True):
        diff = difference(control, treatment, relative=relative)
        se = math.sqrt(diff.variance)
        result = bayes_effect(control, treatment, relative=relative, level=level)
        z = stats.norm.ppf((1 + level) / 2)
        assert math.isclose(result.mean, diff.estimate, rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(result.sd, se, rel_tol=1e-12)
        assert math.isclose(result.chance_to_win, stats.norm.cdf(diff.estimate / se), rel_tol=1e-12)
        assert math.isclose(result.low, diff.estimate - z * se, rel_tol=1e-9, abs_tol=1e-12 * se)
        assert math.isclose(result.high, diff.estimate + z * se, rel_tol=1e-9, abs_tol=1e-12 * se)


@settings(max_examples=200, deadline=None)
@given(arms, arms, st.one_of(st.none(), st.floats(1e-6, 10)), st.floats(-1, 1))
def test_swapping_the_arms_mirrors_an_absolute_result(
    control: Arm, treatment: Arm, prior_variance: float | None, prior_mean: float
) -> None:
    ab = bayes_effect(
        control, treatment, relative=False, prior_mean=prior_mean, prior_variance=prior_variance
    )
    ba = bayes_effect(
        treatment, control, relative=False, prior_mean=-prior_mean, prior_variance=prior_variance
    )
    assert math.isclose(ba.chance_to_win, 1 - ab.chance_to_win, rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(ba.mean, -ab.mean, rel_tol=1e-12, abs_tol=1e-300)
    assert math.isclose(ba.risk_control, ab.risk_treatment, rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(ba.risk_treatment, ab.risk_control, rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(ba.low, -ab.high, rel_tol=1e-9, abs_tol=1e-12 * ab.sd)


@settings(max_examples=200, deadline=None)
@given(arms, arms, st.booleans(), st.one_of(st.none(), st.floats(1e-6, 10)))
def test_risks_are_expected_losses(
    control: Arm, treatment: Arm, relative: bool, prior_variance: float | None
) -> None:
    result = bayes_effect(control, treatment, relative=relative, prior_variance=prior_variance)
    assert result.risk_control >= 0 and result.risk_treatment >= 0
    # E[max(d, 0)] − E[max(−d, 0)] = E[d]
    scale = max(result.risk_control, result.risk_treatment)
    assert math.isclose(
        result.risk_control - result.risk_treatment,
        result.mean,
        rel_tol=1e-9,
        abs_tol=1e-12 * scale,
    )
    # the winner's risk is the smaller one
    if result.chance_to_win > 0.5:
        assert result.risk_treatment <= result.risk_control
    if result.chance_to_win < 0.5:
        assert result.risk_control <= result.risk_treatment


@pytest.mark.parametrize(("mean", "sd"), [(0.3, 1.0), (-0.02, 0.01), (0.0, 2.5), (5.0, 1.5)])
def test_risk_closed_form_against_numerical_integration(mean: float, sd: float) -> None:
    # Build arms whose absolute effect has exactly this mean and sd under the flat prior.
    control = Arm(2, 1.0, sd**2)
    treatment = Arm(2, 1.0 + mean, sd**2)
    result = bayes_effect(control, treatment, relative=False)
    assert math.isclose(result.sd, sd, rel_tol=1e-12)
    density = stats.norm(result.mean, sd).pdf
    gain, _ = integrate.quad(lambda d: d * density(d), 0, math.inf, epsabs=1e-14)
    loss, _ = integrate.quad(lambda d: -d * density(d), -math.inf, 0, epsabs=1e-14)
    assert math.isclose(result.risk_control, gain, rel_tol=1e-8, abs_tol=1e-13)
    assert math.isclose(result.risk_treatment, loss, rel_tol=1e-8, abs_tol=1e-13)


def test_proper_prior_is_the_conjugate_normal_update() -> None:
    control, treatment = Arm.proportion(400, 3000), Arm.proportion(450, 3000)
    diff = difference(control, treatment, relative=True)
    result = bayes_effect(control, treatment, prior_mean=0.05, prior_variance=0.01)
    precision = 1 / diff.variance + 1 / 0.01
    assert math.isclose(result.sd, math.sqrt(1 / precision), rel_tol=1e-12)
    weight = (1 / diff.variance) / precision  # the data's share of the posterior mean
    expected = weight * diff.estimate + (1 - weight) * 0.05
    assert math.isclose(result.mean, expected, rel_tol=1e-12)
    # A vague prior is the flat one; a sharp prior pins the posterior at the prior mean.
    vague = bayes_effect(control, treatment, prior_variance=1e12)
    flat = bayes_effect(control, treatment)
    assert math.isclose(vague.mean, flat.mean, rel_tol=1e-9)
    assert math.isclose(vague.chance_to_win, flat.chance_to_win, rel_tol=1e-9)
    sharp = bayes_effect(control, treatment, prior_mean=-0.2, prior_variance=1e-12)
    assert math.isclose(sharp.mean, -0.2, rel_tol=1e-6)
    # A prior of no effect pulls the estimate toward zero.
    shrunk = bayes_effect(control, treatment, prior_variance=0.01)
    assert 0 < shrunk.mean < flat.mean and shrunk.chance_to_win < flat.chance_to_win


@pytest.mark.parametrize(
    ("control", "treatment", "relative"),
    [
        (Arm(0, math.nan, math.nan), Arm.proportion(10, 100), False),
        (Arm.proportion(10, 100), Arm(0, math.nan, math.nan), True),
        (Arm.proportion(0, 100), Arm.proportion(10, 100), True),  # control mean 0
        (Arm.proportion(0, 100), Arm.proportion(10, 100), False),  # control variance 0
        (Arm.of([3.0]), Arm.of([1.0, 2.0, 4.0]), False),  # one unit: variance NaN
        (Arm(100, 2.0, -1.0), Arm(100, 2.5, 1.0), False),
    ],
)
def test_undefined_inputs_give_nan(control: Arm, treatment: Arm, relative: bool) -> None:
    result = bayes_effect(control, treatment, relative=relative)
    assert all_nan(result)
    assert result.relative is relative


def test_bad_options_are_refused() -> None:
    control, treatment = Arm.proportion(10, 100), Arm.proportion(12, 100)
    with pytest.raises(ValueError, match="level"):
        bayes_effect(control, treatment, level=1.0)
    with pytest.raises(ValueError, match="prior_variance"):
        bayes_effect(control, treatment, prior_variance=0.0)
