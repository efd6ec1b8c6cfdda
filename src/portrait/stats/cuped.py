"""CUPED (controlled-experiment using pre-experiment data; Deng et al. 2013): the variance of
a metric shrinks when each user's value is adjusted by what the same user did before the
experiment, and the comparison stays unbiased because the pre-period cannot have been
changed by the treatment.

``Y' = Y − θ (X − mean X)`` with ``X`` the pre-period value and one ``θ`` for both arms of a
comparison: the pooled within-arm regression slope ``θ = Σ_arms cov(X, Y) / Σ_arms var(X)``
(weighted by each arm's degrees of freedom). With that ``θ`` the adjusted difference of means
equals the treatment coefficient of the regression ``Y ~ treatment + X`` (ANCOVA). The
variance reduction is ``1 − var(Y')/var(Y)``, about the squared correlation of X and Y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from portrait.stats.summary import Arm


@dataclass(frozen=True)
class Adjusted:
    """Both arms after the adjustment, ``θ``, and the share of variance it removed (of the
    difference's variance)."""

    control: Arm
    treatment: Arm
    theta: float
    variance_reduction: float


def _f(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def cuped(
    control_y: npt.ArrayLike,
    control_x: npt.ArrayLike,
    treatment_y: npt.ArrayLike,
    treatment_x: npt.ArrayLike,
) -> Adjusted | None:
    """The CUPED-adjusted arms; None when it cannot help (under 2 users in an arm, or no
    variation of the pre-period value within the arms)."""
    yc, xc, yt, xt = _f(control_y), _f(control_x), _f(treatment_y), _f(treatment_x)
    if yc.size < 2 or yt.size < 2 or yc.size != xc.size or yt.size != xt.size:
        return None
    sxx = float(((xc - xc.mean()) ** 2).sum() + ((xt - xt.mean()) ** 2).sum())
    if sxx <= 0:
        return None
    sxy = float(
        ((xc - xc.mean()) * (yc - yc.mean())).sum() + ((xt - xt.mean()) * (yt - yt.mean())).sum()
    )
    theta = sxy / sxx
    center = float(np.concatenate([xc, xt]).mean())
    adjusted_c = Arm.of(yc - theta * (xc - center))
    adjusted_t = Arm.of(yt - theta * (xt - center))
    before = Arm.of(yc).variance / yc.size + Arm.of(yt).variance / yt.size
    after = adjusted_c.variance / yc.size + adjusted_t.variance / yt.size
    reduction = 1 - after / before if before > 0 else math.nan
    return Adjusted(adjusted_c, adjusted_t, theta, reduction)
