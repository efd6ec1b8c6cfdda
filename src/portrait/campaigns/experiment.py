"""An experiment's comparisons: every metric, every pair of groups, frequentist and Bayesian,
with CUPED, sequential intervals and a multiple-comparison correction (no I/O).

The input is one :class:`GroupData` per group: per targeted user (intent to treat), whether
they clicked and converted, their revenue, the custom events they had, and their
pre-campaign values (for CUPED). The metrics (:data:`METRICS`, plus ``event:NAME``):

======================= ============ ==========================================================
metric                  kind         value per unit (units)
======================= ============ ==========================================================
``click_rate``          proportion   clicked (targeted users); a control user's clicks are
                                     organic
``conversion_rate``     proportion   converted (targeted users)
``click_to_conversion`` proportion   converted (users who clicked)
``revenue_per_user``    mean         revenue (targeted users)
``revenue_per_converter`` mean       revenue (users who converted)
``event:NAME``          proportion   had the event NAME in the window (targeted users)
======================= ============ ==========================================================

The pairs: each variant against the control, then each variant against each later one.
For each (metric, pair), ``treatment − baseline``:

- proportions: the pooled two-proportion z-test; Wald and Newcomb intervals of the
  difference; the relative interval from the rate ratio by the log method (Katz) or
  statsmodels' log-adjusted one (``relative_interval``);
- means: Welch's t-test and interval; the relative interval by the delta method;
- the p-values of all comparisons corrected together (Holm by default, or
  Benjamini–Hochberg, or none); "significant" means the corrected p-value is under α;
- Bayesian (:mod:`portrait.stats.bayes`): the chance to beat the baseline, the expected loss
  of choosing either arm, a credible interval of the relative effect;
- CUPED (:mod:`portrait.stats.cuped`) when a pre-campaign value exists (conversions: the
  orders before the run; revenue: their amount; an event: its count before);
- sequential (:mod:`portrait.stats.sequential`) on request: the always-valid interval of the
  difference, to be read while the campaign runs; it then decides "significant";
- the minimum detectable effect at the sizes reached (80% power by default): a comparison
  that is not significant and whose observed effect is under it is called underpowered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from portrait.model.campaigns import CONTROL_GROUP
from portrait.stats.bayes import bayes_effect
from portrait.stats.cuped import cuped
from portrait.stats.means import relative_interval, welch_test
from portrait.stats.multiple import Correction, adjust
from portrait.stats.power import minimum_detectable_effect
from portrait.stats.proportions import (
    adjusted_ratio_interval,
    difference_interval,
    newcomb_interval,
    ratio_interval,
    two_proportion_ztest,
)
from portrait.stats.sequential import sequential_interval
from portrait.stats.summary import Arm

RelativeMethod = Literal["log", "log-adjusted"]
RELATIVE_METHODS: tuple[RelativeMethod, ...] = ("log", "log-adjusted")
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "uncorrected"}

Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    kind: Literal["proportion", "mean"]
    #: the pre-campaign value CUPED adjusts by (a key of GroupData.pre), if any
    covariate: str | None = None


METRICS: tuple[Metric, ...] = (
    Metric("click_rate", "CTR (clicked per targeted user)", "proportion"),
    Metric("conversion_rate", "Conversion rate", "proportion", "orders"),
    Metric("click_to_conversion", "Click → conversion", "proportion"),
    Metric("revenue_per_user", "Revenue per user", "mean", "amount"),
    Metric("revenue_per_converter", "Revenue per converter", "mean"),
)
EVENT_PREFIX = "event:"


def event_metric(event: str) -> Metric:
    """The rate of users with the custom event ``event`` in the window."""
    return Metric(
        f"{EVENT_PREFIX}{event}", f"'{event}' rate", "proportion", f"{EVENT_PREFIX}{event}"
    )


@dataclass(frozen=True)
class Options:
    """How the comparisons are computed (each documented in ``docs/campaigns.md``)."""

    level: float = 0.95
    correction: Correction = "holm"
    relative_interval: RelativeMethod = "log"
    sequential: bool = False
    tuning: float = 5000.0  # the sequential interval is tightest near this many users
    cuped: bool = True
    prior_sd: float | None = None  # None: a flat prior on the relative effect
    power: float = 0.8

    def __post_init__(self) -> None:
        if not 0.5 <= self.level < 1:
            raise ValueError(f"the level must be at least 0.5 and below 1, not {self.level:g}")
        if self.correction not in CORRECTION_NAMES:
            raise ValueError(f"unknown correction '{self.correction}' (one of holm, bh, none)")
        if self.relative_interval not in RELATIVE_METHODS:
            raise ValueError(
                f"unknown relative interval '{self.relative_interval}' (log or log-adjusted)"
            )
        if self.prior_sd is not None and not self.prior_sd > 0:
            raise ValueError("the prior's standard deviation must be positive")
        if not (self.tuning > 0 and math.isfinite(self.tuning)):
            raise ValueError("the sequential tuning must be a positive number of users")
        if not self.alpha < self.power < 1:
            raise ValueError(
                f"the power must be above alpha ({self.alpha:.3g}) and below 1, not {self.power:g}"
            )

    @property
    def alpha(self) -> float:
        return 1 - self.level

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "correction": self.correction,
            "relative_interval": self.relative_interval,
            "sequential": self.sequential,
            "tuning": self.tuning,
            "cuped": self.cuped,
            "prior": "flat" if self.prior_sd is None else f"normal(0, {self.prior_sd:g}²)",
            "power": self.power,
        }


@dataclass
class GroupData:
    """Per targeted user of one group (aligned arrays), and the pre-campaign values."""

    group: str
    clicked: Flags
    converted: Flags
    revenue: Floats
    events: dict[str, Flags] = field(default_factory=dict)
    pre: dict[str, Floats] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.clicked.size)

    def values(self, metric: Metric) -> tuple[Floats, Floats | None]:
        """The metric's per-unit values and, for CUPED, the units' pre-campaign values."""
        name = metric.name
        if name == "click_to_conversion":
            return self.converted[self.clicked].astype(np.float64), None
        if name == "revenue_per_converter":
            return self.revenue[self.converted], None
        if name == "click_rate":
            y = self.clicked.astype(np.float64)
        elif name == "conversion_rate":
            y = self.converted.astype(np.float64)
        elif name == "revenue_per_user":
            y = self.revenue
        else:
            y = self.events[name.removeprefix(EVENT_PREFIX)].astype(np.float64)
        x = self.pre.get(metric.covariate) if metric.covariate else None
        return y, x


def pairs(groups: Sequence[str]) -> list[tuple[str, str]]:
    """(baseline, treatment): each variant against the control, then each variant against
    each later one."""
    variants = [g for g in groups if g != CONTROL_GROUP]
    out = [(CONTROL_GROUP, v) for v in variants] if CONTROL_GROUP in groups else []
    out += [(a, b) for i, a in enumerate(variants) for b in variants[i + 1 :]]
    return out


def _num(x: Any) -> float | None:
    """A plain float (from a float, NumPy scalar or one-element array); None for NaN."""
    if x is None:
        return None
    value = float(np.asarray(x, dtype=np.float64).reshape(-1)[0])
    return None if math.isnan(value) or math.isinf(value) else value


def _compare(metric: Metric, base: GroupData, treat: GroupData, options: Options) -> dict[str, Any]:
    yb, xb = base.values(metric)
    yt, xt = treat.values(metric)
    level, alpha = options.level, options.alpha
    row: dict[str, Any] = {
        "metric": metric.name,
        "label": metric.label,
        "kind": metric.kind,
        "baseline": base.group,
        "group": treat.group,
        "n_baseline": int(yb.size),
        "n_group": int(yt.size),
        "value_baseline": _num(yb.mean()) if yb.size else None,
        "value_group": _num(yt.mean()) if yt.size else None,
    }
    arm_b, arm_t = (Arm.of(yb), Arm.of(yt))
    if metric.kind == "proportion":
        arm_b = Arm.proportion(int(yb.sum()), int(yb.size))
        arm_t = Arm.proportion(int(yt.sum()), int(yt.size))
        xb_n, nb, xt_n, nt = int(yb.sum()), int(yb.size), int(yt.sum()), int(yt.size)
        z, p = two_proportion_ztest(xt_n, nt, xb_n, nb)
        low, high = difference_interval(xt_n, nt, xb_n, nb, level)
        n_low, n_high = newcomb_interval(xt_n, nt, xb_n, nb, level)
        ratio = ratio_interval if options.relative_interval == "log" else adjusted_ratio_interval
        r_low, r_high = ratio(xt_n, nt, xb_n, nb, level)
        row.update(
            test="two-proportion z-test",
            statistic=_num(z),
            p_value=_num(p),
            low=_num(low),
            high=_num(high),
            newcomb_low=_num(n_low),
            newcomb_high=_num(n_high),
            relative_low=_num(float(r_low) - 1),
            relative_high=_num(float(r_high) - 1),
            relative_method="log (Katz)" if options.relative_interval == "log" else "log-adjusted",
        )
    else:
        welch = welch_test(arm_b, arm_t, level)
        m_low, m_high = relative_interval(arm_b, arm_t, level)
        row.update(
            test="Welch's t-test",
            statistic=_num(welch.statistic),
            p_value=_num(welch.p_value),
            df=_num(welch.df),
            low=_num(welch.low),
            high=_num(welch.high),
            relative_low=_num(m_low),
            relative_high=_num(m_high),
            relative_method="delta method",
        )
    diff = _num(arm_t.mean - arm_b.mean) if yb.size and yt.size else None
    row["difference"] = diff
    row["relative"] = (
        _num(diff / arm_b.mean) if diff is not None and arm_b.mean not in (0, None) else None
    )
    row["no_variation"] = bool(yb.size and yt.size and np.all(yb == yb[0]) and np.all(yt == yb[0]))
    bayes = bayes_effect(
        arm_b,
        arm_t,
        relative=True,
        prior_variance=None if options.prior_sd is None else options.prior_sd**2,
        level=level,
    )
    row["bayes"] = {
        "chance_to_win": _num(bayes.chance_to_win),
        "risk_baseline": _num(bayes.risk_control),
        "risk_group": _num(bayes.risk_treatment),
        "low": _num(bayes.low),
        "high": _num(bayes.high),
        "mean": _num(bayes.mean),
    }
    row["cuped"] = None
    if options.cuped and xb is not None and xt is not None:
        adjusted = cuped(yb, xb, yt, xt)
        if adjusted is not None:
            t = welch_test(adjusted.control, adjusted.treatment, level)
            row["cuped"] = {
                "theta": _num(adjusted.theta),
                "variance_reduction": _num(adjusted.variance_reduction),
                "difference": _num(t.estimate),
                "low": _num(t.low),
                "high": _num(t.high),
                "p_value": _num(t.p_value),
            }
    row["sequential"] = None
    if options.sequential:
        seq = sequential_interval(arm_b, arm_t, alpha=alpha, tuning=options.tuning)
        row["sequential"] = {"low": _num(seq.low), "high": _num(seq.high)}
    if metric.kind == "proportion":
        mde = minimum_detectable_effect(
            nb, nt, baseline=arm_b.mean if nb else None, alpha=alpha, target_power=options.power
        )
    else:
        pooled = _pooled_variance(arm_b, arm_t)
        mde = minimum_detectable_effect(
            arm_b.n, arm_t.n, variance=pooled, alpha=alpha, target_power=options.power
        )
    row["mde"] = _num(mde)
    return row


def _pooled_variance(a: Arm, b: Arm) -> float:
    if a.n + b.n <= 2 or math.isnan(a.variance) or math.isnan(b.variance):
        return math.nan
    return ((a.n - 1) * a.variance + (b.n - 1) * b.variance) / (a.n + b.n - 2)


def _decide(row: dict[str, Any], options: Options) -> None:
    """Significance (corrected p, or the sequential interval), underpowered, the verdict."""
    alpha = options.alpha
    seq = row["sequential"]
    if seq is not None:
        significant = seq["low"] is not None and (seq["low"] > 0 or seq["high"] < 0)
    else:
        significant = row["p_adjusted"] is not None and row["p_adjusted"] < alpha
    row["significant"] = significant
    diff, mde = row["difference"], row["mde"]
    row["underpowered"] = bool(
        not significant and diff is not None and mde is not None and abs(diff) < mde
    )
    row["verdict"] = _sentence(row, options)


def _amount(row: dict[str, Any], x: float) -> str:
    if row["kind"] == "proportion":
        return f"{x * 100:+.2f} pts"
    return f"{x:+,.2f}"


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _sentence(row: dict[str, Any], options: Options) -> str:
    head = f"{row['label']}, {row['group']} vs {row['baseline']}"
    if not row["n_baseline"] or not row["n_group"]:
        return f"{head}: no users to compare"
    if row["no_variation"]:
        return f"{head}: no variation (every user has the same value): nothing to test"
    diff = row["difference"]
    level = f"{options.level * 100:g}%"
    parts = [_amount(row, diff)]
    if row["relative"] is not None:
        parts.append(f"{row['relative'] * 100:+.1f}%")
    if row["sequential"] is not None and row["sequential"]["low"] is not None:
        seq = row["sequential"]
        interval = (
            f"always-valid {level} CI {_amount(row, seq['low'])} to {_amount(row, seq['high'])}"
        )
    elif row["low"] is not None:
        interval = f"{level} CI {_amount(row, row['low'])} to {_amount(row, row['high'])}"
    else:
        interval = "no interval"
    correction = CORRECTION_NAMES[options.correction]
    test = f"{row['test']} p={_p(row['p_value'])}"
    if options.correction != "none":
        test += f", {correction}-corrected p={_p(row['p_adjusted'])}"
    word = "significant" if row["significant"] else "not significant"
    text = f"{head}: {', '.join(parts)} ({interval}; {test}): {word}"
    chance = row["bayes"]["chance_to_win"]
    if chance is not None:
        text += f"; chance to beat {row['baseline']} {chance * 100:.1f}%"
    if row["underpowered"]:
        text += (
            f"; underpowered: at these sizes only effects of ±{_amount(row, row['mde'])[1:]} "
            f"or more are found with {options.power * 100:g}% power"
        )
    return text


def compare_groups(
    groups: Sequence[GroupData], metrics: Sequence[Metric], options: Options
) -> list[dict[str, Any]]:
    """One row per (metric, pair), the p-values corrected together, each with its verdict."""
    by_name: Mapping[str, GroupData] = {g.group: g for g in groups}
    rows = [
        _compare(metric, by_name[a], by_name[b], options)
        for metric in metrics
        for a, b in pairs([g.group for g in groups])
    ]
    corrected = adjust([r["p_value"] for r in rows], options.correction)
    for row, p in zip(rows, corrected, strict=True):
        row["p_adjusted"] = p
        _decide(row, options)
    return rows
