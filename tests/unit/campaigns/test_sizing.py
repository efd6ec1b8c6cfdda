"""Planning an experiment's size: per group, Bonferroni across the comparisons, bad plans."""

from __future__ import annotations

import math

import pytest

from portrait.campaigns.sizing import plan_sample_size
from portrait.errors import InputError
from portrait.stats.power import Design, power


def test_each_comparison_reaches_its_power_at_the_planned_sizes() -> None:
    plan = plan_sample_size(0.05, 0.1, {"control": 10, "A": 45, "B": 45}, relative=True)
    assert plan["comparisons"] == ["A vs control", "B vs control"]
    assert plan["alpha_per_comparison"] == pytest.approx(0.025)
    sizes = {g["group"]: g["users"] for g in plan["groups"]}
    assert sizes["A"] == sizes["B"] and plan["users"] == sum(sizes.values())
    reached = power(0.005, 0.05 * 0.95, 0.055 * 0.945, sizes["control"], sizes["A"], 0.025)
    assert 0.8 <= reached < 0.8005  # rounded up to whole users: just at or above
    # one user fewer in the control falls short
    assert power(0.005, 0.05 * 0.95, 0.055 * 0.945, sizes["control"] - 5, sizes["A"], 0.025) < 0.8


def test_without_a_control_the_variants_are_compared_and_none_keeps_alpha() -> None:
    plan = plan_sample_size(20.0, 1.0, {"A": 50, "B": 50}, sd=30.0, correction="none")
    assert plan["comparisons"] == ["B vs A"] and plan["kind"] == "mean"
    assert plan["alpha_per_comparison"] == 0.05
    design = Design(20.0, 1.0, kind="mean", sd=30.0)
    n = plan["groups"][0]["users"]
    assert design.power_at(n, n) >= 0.8 > design.power_at(n - 2, n - 2)
    three = plan_sample_size(20.0, 1.0, {"A": 1, "B": 1, "C": 1}, sd=30.0)
    assert len(three["comparisons"]) == 3 and math.isclose(three["alpha_per_comparison"], 0.05 / 3)


@pytest.mark.parametrize(
    ("weights", "kwargs", "message"),
    [
        ({"control": 50, "A": 50}, {"baseline": 1.5}, "between 0 and 1"),
        ({"control": 50, "A": 0}, {}, "weight must be positive"),
        ({"A": 100}, {}, "two groups at least"),
        ({"control": 50, "A": 50}, {"baseline": 10.0, "sd": -1.0}, "standard deviation"),
    ],
)
def test_bad_plans_name_the_problem(
    weights: dict[str, float], kwargs: dict[str, float], message: str
) -> None:
    arguments = {"baseline": 0.05, "effect": 0.01, **kwargs}
    with pytest.raises(InputError, match=message):
        plan_sample_size(arguments.pop("baseline"), arguments.pop("effect"), weights, **arguments)  # type: ignore[arg-type]


def test_an_effect_too_small_to_plan_is_said_so() -> None:
    with pytest.raises(InputError, match="no sample size finds an effect of 1e-09") as caught:
        plan_sample_size(0.05, 1e-9, {"control": 50, "A": 50})
    assert caught.value.where == "effect"
