"""Bayesian result of a two-arm comparison: the posterior of the effect, the chance that the
treatment beats the control, the expected loss (risk) of choosing either arm, and a credible
interval.

The model (the Gaussian approximation of GrowthBook's stats engine, gbstats'
``EffectBayesianABTest``; ``tests/unit/stats/test_bayes.py`` reproduces its values):

* Data. The effect ``d`` is ``t − c`` (absolute) or ``(t − c) / c`` (relative), estimated by
  ``difference`` in ``portrait.stats.summary``: ``d̂`` with variance ``v`` (unpooled; the
  delta method for the relative form). The likelihood of the true effect is taken as normal:
  ``d̂ ~ N(d, v)``.
* Prior. ``d ~ N(m0, v0)``, stated in the effect's units (a relative prior for a relative
  effect). ``prior_variance=None`` is the flat (improper) prior, gbstats' default. gbstats'
  product states a proper prior on the relative scale (default standard deviation 0.1) and
  rescales it for an absolute effect by the control mean ``c``: mean ``m0·|c|``, variance
  ``v0·c²``; a caller that does the same passes the rescaled values here.
* Posterior. ``d | data ~ N(μ, σ²)`` with precision ``1/σ² = 1/v + 1/v0`` and mean
  ``μ = (d̂/v + m0/v0) · σ²``; under the flat prior ``μ = d̂`` and ``σ² = v``.
* Chance to win. ``P(d > 0) = Φ(μ/σ)`` (Φ the standard normal distribution function): the
  probability that the treatment's mean is higher than the control's. (A metric where lower
  is better reads ``1 − chance_to_win``, and the two risks swap.)
* Risk (expected loss), in the effect's units (relative when ``relative``, as gbstats' risk
  type says), never negative. Choosing the control loses ``d`` when the treatment was
  better: ``risk_control = E[max(d, 0)] = σ·φ(z) + μ·Φ(z)``; choosing the treatment loses
  ``−d`` when the control was better: ``risk_treatment = E[max(−d, 0)] = σ·φ(z) − μ·Φ(−z)``,
  with ``z = μ/σ`` and φ the standard normal density. ``risk_control − risk_treatment = μ``.
  gbstats reports the same pair as ``risk = [risk_control, risk_treatment]``, computed as
  ``P(d > 0)·E[d | d > 0]`` and ``−P(d < 0)·E[d | d < 0]``.
* Credible interval. The central ``level`` interval of the posterior:
  ``μ ± Φ⁻¹((1 + level)/2)·σ``. Under the flat prior it is the frequentist (Wald)
  interval, and the chance to win is ``Φ(d̂/√v)``, one minus the one-sided p-value.

Undefined inputs give NaN in every number, never an exception: an empty arm, a control mean
of 0 for a relative effect, or a unit variance that is 0, negative or NaN in either arm
(gbstats refuses the same inputs, returning its uninformative default instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from portrait.stats.summary import Arm, difference


@dataclass(frozen=True)
class BayesResult:
    """The posterior of the effect (``treatment − control``, or relative to the control)
    and what is read from it; every number NaN where the inputs leave it undefined."""

    mean: float
    """Posterior mean of the effect."""
    sd: float
    """Posterior standard deviation of the effect."""
    chance_to_win: float
    """``P(effect > 0)``: the probability that the treatment's mean is the higher."""
    risk_control: float
    """Expected loss of choosing the control, ``E[max(effect, 0)]``, in the effect's units."""
    risk_treatment: float
    """Expected loss of choosing the treatment, ``E[max(−effect, 0)]``."""
    low: float
    """Lower end of the central credible interval."""
    high: float
    """Upper end of the central credible interval."""
    relative: bool
    level: float


def bayes_effect(
    control: Arm,
    treatment: Arm,
    *,
    relative: bool = True,
    prior_mean: float = 0.0,
    prior_variance: float | None = None,
    level: float = 0.95,
) -> BayesResult:
    """The posterior of the effect of ``treatment`` against ``control`` under a normal prior
    ``N(prior_mean, prior_variance)`` stated in the effect's units (``None``: flat), with the
    chance to win, both risks and the central ``level`` credible interval. See the module
    docstring for the formulas."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (exclusive), not {level}")
    if prior_variance is not None and not prior_variance > 0:
        raise ValueError(
            f"prior_variance must be positive (or None for a flat prior), not {prior_variance}"
        )
    undefined = BayesResult(*(math.nan,) * 7, relative=relative, level=level)
    if not (control.variance > 0 and treatment.variance > 0):
        return undefined
    diff = difference(control, treatment, relative=relative)
    if not (math.isfinite(diff.estimate) and diff.variance > 0):
        return undefined

    if prior_variance is None:
        mean, variance = diff.estimate, diff.variance
    else:
        precision = 1 / diff.variance + 1 / prior_variance
        variance = 1 / precision
        mean = (diff.estimate / diff.variance + prior_mean / prior_variance) * variance
    sd = math.sqrt(variance)

    z = mean / sd
    density = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    # P(effect > 0) = Φ(z), P(effect < 0) = Φ(−z), each from ndtr (no 1 − x cancellation).
    above, below = float(special.ndtr(z)), float(special.ndtr(-z))
    risk_control = max(sd * density + mean * above, 0.0)
    risk_treatment = max(sd * density - mean * below, 0.0)
    half = sd * float(special.ndtri(0.5 + level / 2))
    return BayesResult(
        mean=mean,
        sd=sd,
        chance_to_win=above,
        risk_control=risk_control,
        risk_treatment=risk_treatment,
        low=mean - half,
        high=mean + half,
        relative=relative,
        level=level,
    )
