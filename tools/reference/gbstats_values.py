"""Write ``tests/unit/stats/gbstats_reference.json``: GrowthBook's stats engine (gbstats) run
on a fixed list of two-arm cases, the values ``tests/unit/stats/test_bayes.py`` and
``test_sequential.py`` reproduce.

gbstats pins numpy<2 and pandas<2, so it never goes into Portrait's environment. Run this
script with a virtual environment of its own::

    python3.11 -m venv /tmp/gbenv
    /tmp/gbenv/bin/pip install gbstats==0.8.0
    /tmp/gbenv/bin/python tools/reference/gbstats_values.py

The recorded file was made with gbstats 0.8.0, numpy 1.26.4, scipy 1.17.1 and Python 3.11.7
(the file itself records the versions and the date it was written).

Each arm is given as gbstats takes it (a proportion: count and n; a mean: n, sum and sum of
squares) and recorded as Portrait's ``Arm`` takes it: ``n``, and the ``mean`` and unit
``variance`` exactly as gbstats computed them (``p(1 − p)`` for a proportion, the sample
variance for a mean), so both sides start from the same floating-point numbers.

The cases:

* ``bayes``: ``EffectBayesianABTest`` (gbstats' Bayesian engine) with a Gaussian prior on the
  effect, flat (``proper=False``, gbstats' default) or proper. ``prior_type`` says on which
  scale the prior is stated: gbstats' product always states it on the relative scale and
  rescales it by the control mean for an absolute analysis (mean × |c|, variance × c²).
* ``sequential``: ``SequentialTwoSidedTTest`` (the normal-mixture confidence sequence),
  with the default tuning parameter (5000) and others.
* a few undefined cases (an empty arm, a control mean of 0 for a relative effect, a unit
  variance of 0), where gbstats returns its uninformative default output and Portrait NaN.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic

OUT = Path(__file__).resolve().parents[2] / "tests" / "unit" / "stats" / "gbstats_reference.json"


def proportion(count: int, n: int) -> dict[str, Any]:
    return {"kind": "proportion", "count": count, "n": n}


def mean(n: int, average: float, sd: float) -> dict[str, Any]:
    """A mean arm from its size, average and standard deviation, as the sums gbstats takes."""
    total = n * average
    return {
        "kind": "mean",
        "n": n,
        "sum": total,
        "sum_squares": (n - 1) * sd**2 + n * average**2,
    }


def statistic(arm: dict[str, Any]) -> ProportionStatistic | SampleMeanStatistic:
    if arm["kind"] == "proportion":
        return ProportionStatistic(n=arm["n"], sum=arm["count"])
    return SampleMeanStatistic(n=arm["n"], sum=arm["sum"], sum_squares=arm["sum_squares"])


def flat() -> dict[str, Any]:
    return {"proper": False, "mean": 0.0, "variance": 1.0, "prior_type": "relative"}


def prior(m: float, v: float, prior_type: str) -> dict[str, Any]:
    return {"proper": True, "mean": m, "variance": v, "prior_type": prior_type}


# One case a line reads as a table.
# fmt: off
# name, control, treatment, difference type, alpha, prior (Bayesian cases)
BAYES: list[tuple[str, dict[str, Any], dict[str, Any], str, float, dict[str, Any]]] = [
    ("prop-10k-up-rel", proportion(1000, 10000), proportion(1100, 10000), "relative", 0.05, flat()),
    ("prop-10k-up-abs", proportion(1000, 10000), proportion(1100, 10000), "absolute", 0.05, flat()),
    ("prop-small-rel", proportion(5, 50), proportion(9, 48), "relative", 0.05, flat()),
    ("prop-zero-effect-rel", proportion(300, 2000), proportion(300, 2000), "relative", 0.05, flat()),
    ("prop-down-abs", proportion(600, 5000), proportion(540, 5100), "absolute", 0.05, flat()),
    ("prop-strong-up-rel", proportion(1000, 10000), proportion(1400, 10000), "relative", 0.05, flat()),
    ("prop-unbalanced-rel", proportion(12, 100), proportion(610, 5000), "relative", 0.05, flat()),
    ("mean-revenue-rel", mean(1200, 25.3, 40.0), mean(1180, 24.1, 38.0), "relative", 0.05, flat()),
    ("mean-1m-tiny-rel", mean(1_000_000, 3.2, 5.1), mean(1_000_050, 3.203, 5.2), "relative", 0.05, flat()),
    ("mean-alpha01-rel", mean(800, 12.0, 9.0), mean(790, 13.1, 9.5), "relative", 0.01, flat()),
    ("mean-down-abs-proper", mean(400, 50.0, 20.0), mean(420, 47.5, 21.0), "absolute", 0.05, prior(0.0, 1.0, "absolute")),
    ("prop-rel-proper-default", proportion(1000, 10000), proportion(1100, 10000), "relative", 0.05, prior(0.0, 0.01, "relative")),
    ("prop-small-rel-proper", proportion(5, 50), proportion(9, 48), "relative", 0.05, prior(0.0, 0.01, "relative")),
    ("prop-rel-proper-shifted-a10", proportion(400, 3000), proportion(450, 3000), "relative", 0.10, prior(0.05, 0.01, "relative")),
    ("prop-abs-prior-stated-rel", proportion(400, 3000), proportion(450, 3000), "absolute", 0.05, prior(0.02, 0.01, "relative")),
    ("mean-rel-proper-a20", mean(150, 8.0, 6.0), mean(160, 7.2, 6.5), "relative", 0.20, prior(0.02, 0.0025, "relative")),
    ("mean-abs-strong-prior", mean(30, 10.0, 4.0), mean(30, 12.0, 4.0), "absolute", 0.05, prior(0.0, 0.25, "absolute")),
    ("undefined-empty-arm", proportion(0, 0), proportion(10, 100), "absolute", 0.05, flat()),
    ("undefined-zero-control-rel", proportion(0, 100), proportion(10, 100), "relative", 0.05, flat()),
    ("undefined-zero-variance-abs", proportion(0, 100), proportion(10, 100), "absolute", 0.05, flat()),
]

# name, control, treatment, difference type, alpha, tuning (sequential cases)
SEQUENTIAL: list[tuple[str, dict[str, Any], dict[str, Any], str, float, float]] = [
    ("seq-prop-10k-rel", proportion(1000, 10000), proportion(1100, 10000), "relative", 0.05, 5000),
    ("seq-prop-10k-abs", proportion(1000, 10000), proportion(1100, 10000), "absolute", 0.05, 5000),
    ("seq-prop-tuning-1000", proportion(1000, 10000), proportion(1100, 10000), "absolute", 0.05, 1000),
    ("seq-prop-tuning-100k", proportion(1000, 10000), proportion(1100, 10000), "absolute", 0.05, 100_000),
    ("seq-prop-alpha10", proportion(1000, 10000), proportion(1100, 10000), "relative", 0.10, 5000),
    ("seq-mean-alpha01", mean(800, 12.0, 9.0), mean(790, 13.1, 9.5), "relative", 0.01, 5000),
    ("seq-prop-small", proportion(5, 50), proportion(9, 48), "absolute", 0.05, 5000),
    ("seq-mean-1m", mean(1_000_000, 3.2, 5.1), mean(1_000_050, 3.203, 5.2), "relative", 0.05, 5000),
    ("seq-mean-down-abs", mean(400, 50.0, 20.0), mean(420, 47.5, 21.0), "absolute", 0.05, 20_000),
    ("seq-prop-zero-effect", proportion(300, 2000), proportion(300, 2000), "absolute", 0.05, 5000),
    ("seq-prop-strong", proportion(1000, 10000), proportion(1400, 10000), "relative", 0.05, 5000),
]
# fmt: on


def arm_record(spec: dict[str, Any]) -> dict[str, Any]:
    stat = statistic(spec)
    return {"n": stat.n, "mean": float(stat.mean), "variance": float(stat.variance), "source": spec}


def bayes_case(name, control, treatment, difference_type, alpha, prior_spec) -> dict[str, Any]:
    config = EffectBayesianConfig(
        difference_type=difference_type,
        alpha=alpha,
        prior_type=prior_spec["prior_type"],
        prior_effect=GaussianPrior(
            mean=prior_spec["mean"], variance=prior_spec["variance"], proper=prior_spec["proper"]
        ),
    )
    result = EffectBayesianABTest(statistic(control), statistic(treatment), config).compute_result()
    return {
        "name": name,
        "test": "EffectBayesianABTest",
        "control": arm_record(control),
        "treatment": arm_record(treatment),
        "options": {"difference_type": difference_type, "alpha": alpha, "prior": prior_spec},
        "gbstats": {
            "expected": float(result.expected),
            "uplift_mean": float(result.uplift.mean),
            "uplift_stddev": float(result.uplift.stddev),
            "chance_to_win": float(result.chance_to_win),
            "ci": [float(x) for x in result.ci],
            "risk": [float(x) for x in result.risk],
            "risk_type": result.risk_type,
            "error_message": result.error_message,
        },
    }


def sequential_case(name, control, treatment, difference_type, alpha, tuning) -> dict[str, Any]:
    config = SequentialConfig(
        difference_type=difference_type, alpha=alpha, sequential_tuning_parameter=tuning
    )
    test = SequentialTwoSidedTTest(statistic(control), statistic(treatment), config)
    result = test.compute_result()
    return {
        "name": name,
        "test": "SequentialTwoSidedTTest",
        "control": arm_record(control),
        "treatment": arm_record(treatment),
        "options": {"difference_type": difference_type, "alpha": alpha, "tuning": tuning},
        "gbstats": {
            "expected": float(result.expected),
            "uplift_stddev": float(result.uplift.stddev),
            "ci": [float(x) for x in result.ci],
            "p_value": float(result.p_value),
            "rho": float(test.rho),
            "error_message": result.error_message,
        },
    }


def main() -> None:
    versions = {
        name: importlib.metadata.version(name) for name in ("gbstats", "numpy", "scipy", "pydantic")
    }
    versions["python"] = platform.python_version()
    record = {
        "written": datetime.date.today().isoformat(),
        "versions": versions,
        "script": "tools/reference/gbstats_values.py",
        "cases": [bayes_case(*case) for case in BAYES]
        + [sequential_case(*case) for case in SEQUENTIAL],
    }
    OUT.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {len(record['cases'])} cases to {OUT}")


if __name__ == "__main__":
    main()
