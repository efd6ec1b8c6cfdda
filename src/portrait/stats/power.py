"""Power, sample size and the minimum detectable effect of a two-arm comparison, by the
normal approximation (the z-test an experiment's report uses).

With unit variances ``v_c`` and ``v_t``, arm sizes ``n_c`` and ``n_t`` and an effect ``δ``,
the standard error is ``se = sqrt(v_c/n_c + v_t/n_t)`` and the power of the two-sided test at
level α is ``Φ(|δ|/se − z) + Φ(−|δ|/se − z)``, ``z = Φ⁻¹(1 − α/2)`` (both rejection regions,
as statsmodels' ``NormalIndPower``). For proportions the unit variance is ``p(1 − p)`` at
each arm's rate: the control's baseline and the baseline plus the effect. Sample size and
the minimum detectable effect (MDE) solve the same equation for ``n`` or ``δ``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.special import ndtr, ndtri


def power(
    effect: float,
    variance_control: float,
    variance_treatment: float,
    n_control: float,
    n_treatment: float,
    alpha: float = 0.05,
) -> float:
    """The chance that the two-sided test at ``alpha`` finds an effect of size ``effect``."""
    if n_control <= 0 or n_treatment <= 0:
        return math.nan
    se = math.sqrt(variance_control / n_control + variance_treatment / n_treatment)
    if se == 0:
        return 1.0 if effect else alpha
    z = float(ndtri(1 - alpha / 2))
    d = abs(effect) / se
    return float(ndtr(d - z) + ndtr(-d - z))


def _proportion_variances(baseline: float, effect: float) -> tuple[float, float]:
    treated = baseline + effect
    return baseline * (1 - baseline), treated * (1 - treated)


@dataclass(frozen=True)
class Design:
    """What an experiment is planned to detect: the control's ``baseline`` (a rate for
    ``kind="proportion"``, a mean otherwise, with the per-user standard deviation ``sd``),
    the effect (absolute, or a share of the baseline when ``relative``), the level and the
    power."""

    baseline: float
    effect: float
    kind: str = "proportion"
    sd: float | None = None
    relative: bool = False
    alpha: float = 0.05
    power: float = 0.8

    def __post_init__(self) -> None:
        if self.kind not in ("proportion", "mean"):
            raise ValueError("kind is 'proportion' or 'mean'")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, not {self.alpha:g}")
        if not self.alpha < self.power < 1:
            raise ValueError(f"power must be between alpha and 1, not {self.power:g}")
        if self.absolute_effect == 0:
            raise ValueError("the effect to detect must not be 0")
        if self.kind == "proportion":
            if not 0 < self.baseline < 1:
                raise ValueError(f"a baseline rate is between 0 and 1, not {self.baseline:g}")
            if not 0 < self.baseline + self.absolute_effect < 1:
                raise ValueError(
                    f"the baseline {self.baseline:g} plus the effect "
                    f"{self.absolute_effect:g} must stay between 0 and 1"
                )
        elif self.sd is None or not self.sd > 0:
            raise ValueError("a mean needs its per-user standard deviation (sd > 0)")

    @property
    def absolute_effect(self) -> float:
        return self.effect * self.baseline if self.relative else self.effect

    def variances(self) -> tuple[float, float]:
        if self.kind == "proportion":
            return _proportion_variances(self.baseline, self.absolute_effect)
        assert self.sd is not None
        return self.sd**2, self.sd**2

    def power_at(self, n_control: float, n_treatment: float) -> float:
        vc, vt = self.variances()
        return power(self.absolute_effect, vc, vt, n_control, n_treatment, self.alpha)


def _solve(f: Callable[[float], float], low: float, high: float) -> float:
    """The root of an increasing ``f`` between ``low`` and ``high`` (growing ``high``)."""
    while f(high) < 0:
        high *= 2
        if high > 1e15:
            raise ValueError("no sample size reaches that power")
    return float(brentq(f, low, high, xtol=1e-12, rtol=1e-12, maxiter=500))


def sample_size(design: Design, control_share: float, treatment_share: float) -> float:
    """The total number of users (all groups of the experiment together, fractional) at
    which a comparison whose arms take ``control_share`` and ``treatment_share`` of them
    reaches the design's power."""
    if not (control_share > 0 and treatment_share > 0):
        raise ValueError("both arms need a positive share of the users")

    def gap(total: float) -> float:
        return design.power_at(total * control_share, total * treatment_share) - design.power

    return _solve(gap, 1e-9, 1_000.0)


def minimum_detectable_effect(
    n_control: int,
    n_treatment: int,
    *,
    variance: float | None = None,
    baseline: float | None = None,
    alpha: float = 0.05,
    target_power: float = 0.8,
) -> float:
    """The smallest absolute effect the test finds with ``target_power`` at these sizes:
    for a mean, with the per-user ``variance`` in both arms; for a proportion, an increase
    from the ``baseline`` rate (each arm's own ``p(1 − p)``). NaN when it cannot be
    reached (a proportion would pass 1, an empty arm)."""
    if n_control <= 0 or n_treatment <= 0:
        return math.nan
    if baseline is None:
        if variance is None or not variance > 0:
            return math.nan
        v = variance

        def gap(effect: float) -> float:
            return power(effect, v, v, n_control, n_treatment, alpha) - target_power

        return _solve(gap, 0.0, math.sqrt(v / n_control + v / n_treatment))
    if not 0 < baseline < 1:
        return math.nan
    base = baseline

    def gap_p(effect: float) -> float:
        vc, vt = _proportion_variances(base, effect)
        return power(effect, vc, vt, n_control, n_treatment, alpha) - target_power

    room = 1 - base - 1e-12
    if gap_p(room) < 0:
        return math.nan
    return float(brentq(gap_p, 0.0, room, xtol=1e-14, rtol=1e-12, maxiter=500))
