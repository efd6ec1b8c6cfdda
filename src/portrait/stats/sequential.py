"""Sequential (always-valid) interval for the effect of a two-arm comparison: an interval
that may be looked at after every day, or every unit, and still holds its coverage.

A fixed-horizon 95% interval misses the true effect in 5% of experiments only when it is
looked at once, at a sample size fixed in advance. Looking every day and stopping at the
first interval that excludes 0 finds an "effect" far more often (about a quarter of A/A
experiments looked at daily for three weeks). A confidence sequence is a sequence of
intervals, one per sample size, that together cover the true effect with probability at
least ``1 − alpha``: ``P(the effect is outside the interval at any look) ≤ alpha``, however
many looks are taken and whenever the experiment stops (in the large-sample sense: it rests
on the normal approximation, like the fixed-horizon interval).

The interval is the normal-mixture confidence sequence (Robbins' mixture martingale, as
Howard et al. 2021 and Waudby-Smith et al. 2023, "Time-uniform central limit theory and
asymptotic confidence sequences", eq. 9, give it), as GrowthBook's stats engine (gbstats'
``SequentialTwoSidedTTest``) computes it; ``tests/unit/stats/test_sequential.py`` reproduces
its values. With ``d̂`` the estimated effect and ``v`` its variance (``difference`` in
``portrait.stats.summary``: absolute, or relative by the delta method), ``N = n_c + n_t``
the units in both arms, and ``u = N·ρ²``::

    half-width = sqrt( v · 2(u + 1)/u · ln( sqrt(u + 1) / alpha ) )
    interval   = d̂ ± half-width

``ρ`` is the mixture's spread, set from the tuning parameter ``M``::

    ρ² = ( −2·ln(alpha) + ln(1 − 2·ln(alpha)) ) / M

which makes the interval tightest (relative to the fixed-horizon one) at ``N = M`` units in
all: choose ``M`` near the sample size where decisions are expected. gbstats' default is
5000. The interval is always wider than the fixed-horizon ``d̂ ± z·√v`` (for alpha up to
about 0.4); that is the price of looking as often as one likes.

The always-valid p-value is the reciprocal of the mixture's e-value (capped at 1)::

    e = exp( ρ²·S / (2(u + 1)) ) / sqrt(u + 1),   S = d̂²·N / v
    p = min(1, 1/e)

``p ≤ alpha`` exactly when the interval excludes 0, and ``P(p ≤ alpha at any look) ≤ alpha``
under no effect (Ville's inequality).

Undefined inputs give NaN, never an exception: an empty arm, a control mean of 0 for a
relative effect, a unit variance that is 0, negative or NaN in either arm. (gbstats also
refuses a control mean of 0 for an absolute effect; here that is defined.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from portrait.stats.summary import Arm, difference

DEFAULT_TUNING = 5000.0
"""gbstats' default tuning parameter: the total sample size where the interval is tightest."""


@dataclass(frozen=True)
class SequentialResult:
    """The estimated effect with its always-valid interval and p-value (NaN where the
    inputs leave them undefined)."""

    estimate: float
    low: float
    high: float
    p_value: float
    relative: bool


def mixture_rho_squared(alpha: float, tuning: float) -> float:
    """``ρ²`` of the normal mixture that makes the ``1 − alpha`` confidence sequence
    tightest at ``tuning`` units."""
    return (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / tuning


def sequential_interval(
    control: Arm,
    treatment: Arm,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
) -> SequentialResult:
    """The always-valid ``1 − alpha`` interval (and p-value against no effect) for
    ``treatment − control`` (or its relative form), tightest near ``tuning`` units in both
    arms together. See the module docstring for the formula."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), not {alpha}")
    if not tuning > 0:
        raise ValueError(f"tuning must be a positive sample size, not {tuning}")
    undefined = SequentialResult(math.nan, math.nan, math.nan, math.nan, relative)
    if not (control.variance > 0 and treatment.variance > 0):
        return undefined
    diff = difference(control, treatment, relative=relative)
    if not (math.isfinite(diff.estimate) and diff.variance > 0):
        return undefined

    n = control.n + treatment.n
    rho2 = mixture_rho_squared(alpha, tuning)
    u = n * rho2
    half = math.sqrt(diff.variance * 2 * (u + 1) / u * math.log(math.sqrt(u + 1) / alpha))
    # The e-value in logs: exp() of it overflows for a large effect at a large sample.
    s = diff.estimate**2 * n / diff.variance
    log_e = rho2 * s / (2 * (u + 1)) - 0.5 * math.log(u + 1)
    p_value = math.exp(-log_e) if log_e > 0 else 1.0
    return SequentialResult(
        estimate=diff.estimate,
        low=diff.estimate - half,
        high=diff.estimate + half,
        p_value=p_value,
        relative=relative,
    )
