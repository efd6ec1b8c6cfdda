"""Clustering personas: planted groups are found (only when the features are scaled), k is
chosen by silhouette, stability separates structure from noise, models round-trip through
JSON, rules are measured honestly, bad input is refused, and assignment runs in batches."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from portrait.errors import InputError
from portrait.learning.personas import (
    Branch,
    Feature,
    Fit,
    PersonaModel,
    approximate,
    evaluate,
    fit,
    nice_threshold,
    silhouettes,
)

TOPICS = ["golf", "games", "travel", "cooking", "books", "music", "cars", "pets"]
CITIES = np.array(["北京", "上海", "广州", "深圳", "成都"], dtype=object)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """k-means' OpenMP threads spin badly when the cores are shared (xdist workers)."""
    with threadpool_limits(1):
        yield


def _planted(n: int = 20_000, seed: int = 0) -> tuple[list[Feature], np.ndarray]:
    """4 groups (young or old × little or much activity, each with its own favourite city and
    interests); ``spend`` (in thousands, sd 2,500) is noise unrelated to the groups, and
    dominates any unscaled distance."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    spend = rng.normal(5000, 2500, n)
    age = np.round(np.array([25, 55, 25, 55])[group] + rng.normal(0, 4, n))
    age[rng.random(n) < 0.02] = np.nan
    activity = rng.poisson(np.array([5, 5, 40, 40])[group]).astype(np.float64)
    city = CITIES[np.where(rng.random(n) < 0.9, group, rng.integers(0, 5, n))]
    interests: list[list[str] | None] = []
    for g in group:
        own = {TOPICS[2 * g], TOPICS[2 * g + 1]}
        held = [t for t in TOPICS if rng.random() < (0.8 if t in own else 0.05)]
        interests.append(held or None)
    features = [
        Feature("spend", "numeric", spend),
        Feature("age", "numeric", age),
        Feature("city", "categorical", city),
        Feature("interests", "multi", interests),
        Feature("activity", "numeric", activity),
    ]
    return features, group


@pytest.fixture(scope="module")
def planted() -> tuple[list[Feature], np.ndarray]:
    return _planted()


@pytest.fixture(scope="module")
def fitted(planted: tuple[list[Feature], np.ndarray]) -> Fit:
    return fit(planted[0], k=4, seed=0, bootstraps=10)


def _head(features: Sequence[Feature], n: int) -> list[Feature]:
    return [Feature(f.name, f.kind, f.values[:n]) for f in features]


def _unscaled(features: Sequence[Feature]) -> np.ndarray:
    """The features as a method that forgets to scale would encode them: numbers as they are
    (missing ones at the mean), plain one-hot and multi-hot."""
    blocks = []
    for f in features:
        if f.kind == "numeric":
            x = np.asarray(f.values, dtype=np.float64)
            blocks.append(np.where(np.isnan(x), np.nanmean(x), x)[:, None])
        elif f.kind == "categorical":
            values = sorted(set(f.values.tolist()))
            blocks.append(np.column_stack([f.values == v for v in values]).astype(float))
        else:
            blocks.append(
                np.array([[t in (held or ()) for t in TOPICS] for held in f.values], dtype=float)
            )
    return np.hstack(blocks)


# -- 1. planted personas ------------------------------------------------------------------


def test_planted_personas_are_found_only_when_scaled(
    planted: tuple[list[Feature], np.ndarray], fitted: Fit
) -> None:
    features, group = planted
    assert fitted.chosen_k == 4 and fitted.model.k == 4
    scaled = adjusted_rand_score(group, fitted.model.assign(features))
    assert scaled >= 0.9, scaled
    assert np.array_equal(fitted.model.assign(features), fitted.labels)
    assert sum(fitted.sizes) == len(group)

    raw = KMeans(n_clusters=4, n_init=4, random_state=0).fit(_unscaled(features))
    unscaled = adjusted_rand_score(group, raw.labels_)
    assert unscaled < 0.9, unscaled  # spend's noise decides: a method that forgets to scale fails


def test_k_is_chosen_by_silhouette(planted: tuple[list[Feature], np.ndarray]) -> None:
    result = fit(_head(planted[0], 5000), seed=0, bootstraps=0)
    assert set(result.silhouette) == set(range(2, 11))
    assert result.chosen_k == 4
    assert max(result.silhouette, key=lambda k: result.silhouette[k]) == 4
    assert np.isnan(result.stability) and not result.stable


def test_silhouettes_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(700, 5)).astype(np.float32)
    x[:200] += 3
    labelings = {2: (np.arange(700) < 200).astype(int), 5: rng.integers(0, 5, 700)}
    labelings[5][0] = 7  # a singleton cluster counts 0
    got = silhouettes(x, labelings)
    for k, labels in labelings.items():
        assert got[k] == pytest.approx(silhouette_score(x, labels), abs=1e-6)
    assert np.isnan(silhouettes(x[:3], {3: np.arange(3)})[3])


# -- 2. stability ---------------------------------------------------------------------------


def test_stability_separates_structure_from_noise(fitted: Fit) -> None:
    assert fitted.stability >= 0.8 and fitted.stable
    rng = np.random.default_rng(5)
    noise = [Feature(f"u{i}", "numeric", rng.random(3000)) for i in range(3)]
    result = fit(noise, k=6, seed=0, bootstraps=5)
    assert result.stability < fitted.stability
    assert 0 < result.stability <= 1


# -- 3. the model as JSON -------------------------------------------------------------------


def test_model_round_trips_through_json(
    planted: tuple[list[Feature], np.ndarray], fitted: Fit
) -> None:
    features = planted[0]
    text = json.dumps(fitted.model.to_dict(), ensure_ascii=False)
    again = PersonaModel.from_dict(json.loads(text))
    assert again.k == 4 and again.seed == 0 and again.columns == fitted.model.columns
    assert np.array_equal(again.encode(features), fitted.model.encode(features))
    assert np.array_equal(again.assign(features), fitted.model.assign(features))
    with pytest.raises(InputError, match="not a saved persona model"):
        PersonaModel.from_dict({**fitted.model.to_dict(), "k": 5})


def test_encoding_scales_and_handles_missing_and_unseen_values() -> None:
    features = [
        Feature("age", "numeric", np.array([20.0, 40.0, np.nan, 60.0])),
        Feature("city", "categorical", np.array(["a", "b", None, "a"], dtype=object)),
        Feature("tags", "multi", [["p", "q"], None, ["q"], ["p"]]),
    ]
    model = fit(features, k=2, bootstraps=0).model
    assert model.columns == ["age", "age (missing)", "city=a", "city=b", "tags∋p", "tags∋q"]
    x = model.encode(features)
    assert x[:, 0] == pytest.approx([-np.sqrt(1.5), 0, 0, np.sqrt(1.5)], abs=1e-6)
    assert x[:, 1].tolist() == [0, 0, 1, 0]
    half = 1 / np.sqrt(2)
    assert x[:, 2:4] == pytest.approx(np.array([[half, 0], [0, half], [0, 0], [half, 0]]))
    w = 1 / np.sqrt(2 * 4 / 3)  # holders hold 4/3 values on average
    assert x[:, 4:] == pytest.approx(np.array([[w, w], [0, 0], [0, w], [w, 0]]), abs=1e-6)
    new = [
        Feature("tags", "multi", [["zz"]]),  # any order; unseen values encode as zeros
        Feature("city", "categorical", np.array(["c"], dtype=object)),
        Feature("age", "numeric", np.array([np.nan])),
    ]
    assert model.encode(new).tolist() == [[0, 1, 0, 0, 0, 0]]
    with pytest.raises(InputError, match="feature 'age' is missing"):
        model.assign(new[:2])


# -- 4. rules -------------------------------------------------------------------------------


def _direct(features: Sequence[Feature], paths: list[list[Branch]]) -> np.ndarray:
    """The users a rule selects, evaluated independently of the module."""
    by_name = {f.name: f for f in features}
    n = len(features[0].values)
    selected = np.zeros(n, dtype=bool)
    for path in paths:
        ok = np.ones(n, dtype=bool)
        for b in path:
            f = by_name[b.feature]
            if f.kind == "numeric":
                x = np.asarray(f.values, dtype=np.float64)
                known = ~np.isnan(x)
                if b.value is None:
                    ok &= known if b.op == "!=" else ~known
                else:
                    filled = np.where(known, x, 0.0)
                    ok &= known & (filled <= b.value if b.op == "<=" else filled > b.value)
            elif f.kind == "categorical":
                v = np.asarray(f.values, dtype=object)
                missing = np.array([value is None for value in v])
                if b.value is None:
                    ok &= ~missing if b.op == "!=" else missing
                else:
                    same = v == b.value
                    ok &= ~same if b.op == "!=" else same
            else:
                holds = np.array([b.value in (held or ()) for held in f.values])
                ok &= ~holds if b.op == "not contains" else holds
        selected |= ok
    return selected


def test_rule_precision_and_coverage_are_measured_on_the_data(
    planted: tuple[list[Feature], np.ndarray], fitted: Fit
) -> None:
    features = _head(planted[0], 5000)
    labels = fitted.labels[:5000]
    for cluster in range(4):
        approx = approximate(features, labels, cluster, max_depth=3)
        rule = _direct(features, approx.paths)
        assert np.array_equal(rule, evaluate(features, approx.paths))
        in_cluster = labels == cluster
        assert approx.matched == rule.sum() and approx.cluster_size == in_cluster.sum()
        assert approx.precision == pytest.approx((rule & in_cluster).sum() / rule.sum())
        assert approx.coverage == pytest.approx((rule & in_cluster).sum() / in_cluster.sum())
        assert approx.precision > 0.8 and approx.coverage > 0.8
        for path in approx.paths:  # merged: one bound of each direction per numeric feature
            bounds = [(b.feature, b.op) for b in path if b.op in ("<=", ">")]
            assert len(bounds) == len(set(bounds)) and len(set(path)) == len(path) <= 3


def _rule_data(n: int = 6000, missing: float = 0.0) -> list[Feature]:
    rng = np.random.default_rng(11)
    age = rng.integers(18, 71, n).astype(np.float64)
    age[rng.random(n) < missing] = np.nan
    return [
        Feature("age", "numeric", age),
        Feature(
            "city",
            "categorical",
            np.array(["x", "y", "z", "w"], dtype=object)[rng.integers(0, 4, n)],
        ),
        Feature("score", "numeric", rng.normal(0, 1, n)),
        Feature("tags", "multi", [list(rng.choice(TOPICS, 2, replace=False)) for _ in range(n)]),
    ]


def test_rule_recovers_a_planted_definition() -> None:
    features = _rule_data()
    age, city = features[0].values, features[1].values
    labels = ((age > 40) & (city == "x")).astype(int)
    approx = approximate(features, labels, 1)
    assert [set(p) for p in approx.paths] == [{Branch("age", ">", 40.0), Branch("city", "=", "x")}]
    assert approx.precision >= 0.95 and approx.coverage >= 0.95
    rest = approximate(features, labels, 0)  # the complement: an OR of paths
    assert rest.precision == 1.0 and rest.coverage == 1.0 and len(rest.paths) >= 2


def test_rule_with_missing_values_reproduces_the_tree() -> None:
    features = _rule_data(missing=0.15)
    age, city = features[0].values, features[1].values
    labels = (((age > 40) | np.isnan(age)) & (city == "x")).astype(int)
    approx = approximate(features, labels, 1)
    assert approx.precision == 1.0 and approx.coverage == 1.0
    assert {frozenset(p) for p in approx.paths} == {
        frozenset({Branch("age", ">", 40.0), Branch("city", "=", "x")}),
        frozenset({Branch("age", "=", None), Branch("city", "=", "x")}),
    }
    multi = [features[3], features[2]]
    golf = np.array(["golf" in t for t in features[3].values]).astype(int)
    approx = approximate(multi, golf, 1)
    assert approx.paths == [[Branch("tags", "contains", "golf")]]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(40, 41, 40), (39, 40, 39), (1234.56, 1301.2, 1300), (-41, -40, -41), (0.123, 0.13, 0.129)],
)
def test_thresholds_are_round_numbers_between_the_data(
    low: float, high: float, expected: float
) -> None:
    assert nice_threshold(low, high) == expected


# -- 5. bad input ---------------------------------------------------------------------------


def _num(name: str, values: Sequence[float] | np.ndarray) -> Feature:
    return Feature(name, "numeric", np.asarray(values, dtype=np.float64))


@pytest.mark.parametrize(
    ("features", "options", "message"),
    [
        ([], {"k": 2}, "no features"),
        ([_num("a", [1, 2, 3])], {"k": 4}, "fewer users"),
        ([_num("a", [1, 2, 3])], {"k": 1}, "k out of range"),
        ([_num("a", [1, 2, 3])], {"k": 51}, "k out of range"),
        ([_num("a", [1, 2, 3])], {"k_range": (1, 5)}, "k out of range"),
        ([_num("a", [1, 2])], {}, "too few users to choose k"),
        ([_num("a", [1, 2, 3]), _num("b", [5, 5, 5])], {"k": 2}, "'b' has one value only"),
        (
            [_num("a", [1, 2, 3]), Feature("c", "categorical", np.array(["u"] * 3, dtype=object))],
            {"k": 2},
            "'c' has one value only",
        ),
        ([_num("a", [1, 2, 3]), _num("b", [1, 2])], {"k": 2}, "different numbers of users"),
        (
            [Feature("id", "categorical", np.array([f"v{i}" for i in range(1500)], dtype=object))],
            {"k": 2},
            "1,500 distinct values",
        ),
        ([Feature("a", "text", [1, 2])], {"k": 2}, "unknown kind"),  # type: ignore[arg-type]
        ([Feature("a", "numeric", np.array(["x", "y"]))], {"k": 2}, "not numbers"),
    ],
)
def test_bad_input_is_refused(
    features: list[Feature], options: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        fit(features, bootstraps=0, **options)  # type: ignore[arg-type]


def test_too_many_values_hint_at_bucketing() -> None:
    ids = Feature("id", "categorical", np.array([f"v{i}" for i in range(1500)], dtype=object))
    with pytest.raises(InputError) as raised:
        fit([ids], k=2)
    assert "bucket" in str(raised.value.hint)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # resampled duplicates
def test_k_range_is_clipped_to_the_users() -> None:
    result = fit([_num("a", [1, 2, 10, 11, 30])], bootstraps=2)
    assert set(result.silhouette) == {2, 3, 4}
    assert result.chosen_k in (2, 3, 4)


def test_approximate_refuses_an_empty_cluster() -> None:
    with pytest.raises(InputError, match="cluster 3 has no users"):
        approximate([_num("a", [1, 2, 3])], np.array([0, 1, 1]), 3)
    with pytest.raises(InputError, match="labels for 3 users"):
        approximate([_num("a", [1, 2, 3])], np.array([0, 1]), 1)


# -- 6. assignment in batches ---------------------------------------------------------------


def test_assign_runs_in_batches() -> None:
    n = 2_000_000
    rng = np.random.default_rng(2)
    features = [_num(f"x{i}", rng.normal(i, 1 + i, n)) for i in range(3)]
    features.append(Feature("city", "categorical", CITIES[rng.integers(0, 5, n)]))
    model = fit(_head(features, 5000), k=3, bootstraps=0).model
    naive = n * len(model.columns) * 4  # the whole encoded matrix, float32

    started = time.perf_counter()
    tracemalloc.start()
    try:
        labels = model.assign(features, batch=50_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert labels.shape == (n,) and set(np.unique(labels).tolist()) == {0, 1, 2}
    assert peak < naive / 3, (peak, naive)  # the labels (4 bytes a user) and one batch
    assert np.array_equal(labels[:20_000], model.assign(_head(features, 20_000)))
    assert elapsed < 10, elapsed  # about 1 s on an idle machine
