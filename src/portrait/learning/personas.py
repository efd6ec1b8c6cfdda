"""Clustering personas (聚类画像, "top-down" customer groups): users clustered on chosen tags
of mixed types, the number of groups chosen, their stability reported, and each group
described by a short rule.

**Encoding** (users × columns, float32; every parameter learnt from the fit sample):

- numeric: z = (x − mean) / sd (population sd of the known values); a missing value is imputed
  with the mean (z = 0) and, when the sample has missing values, a 0/1 column
  ``"<name> (missing)"`` is added;
- categorical: one-hot over the sample's vocabulary (values as text, sorted), the block
  multiplied by 1/√2: two users with different values are at squared distance
  2 · (1/√2)² = 1, what one standard deviation of a numeric tag contributes, so a categorical
  tag weighs like a numeric one whatever its number of values. A missing or unseen value
  encodes as all zeros (squared distance ½ from any value);
- multi-valued: multi-hot over the vocabulary, multiplied by 1/√(2·m̄), m̄ the mean number of
  values held by the sample's users who hold any (at least 1): two users with disjoint sets of
  the typical size are again at squared distance about 1 (a tag holding one value per user
  weighs as a categorical).

**Clustering**: k-means (scikit-learn, k-means++ starts, ``n_init`` = 4, ``random_state`` =
seed) in the encoded space; a user belongs to the nearest centroid (squared Euclidean). Choosing
k: the silhouette s(i) = (b − a) / max(a, b), a the mean distance from i to the other members of
its cluster, b the smallest mean distance to another cluster (s = 0 in a singleton cluster),
averaged over at most 10,000 users sampled once for every k (the same number as
``sklearn.metrics.silhouette_score``, computed for every k in one pass over the pairwise
distances); the k with the largest score wins, the smallest on ties.

**Stability** (Hennig's bootstrap): ``bootstraps`` k-means refits on resamples (with
replacement) of the sample; each refit assigns the whole sample, its clusters are matched to
the original ones by the Hungarian method on the Jaccard index |A ∩ B| / |A ∪ B|, and the
matched Jaccards are averaged over the k clusters. Stability is the mean over refits; a
clustering with stability ≥ 0.8 is reported as stable.

**Rules** (:func:`approximate`): a depth-limited decision tree (scikit-learn) on the readable
features (numerics as they are, with missing values handled natively by the tree; categoricals
and multi-valued tags one-hot), predicting "in the cluster" against the rest. The rule is the OR
of the paths to the leaves predicting the cluster (sibling leaves that agree merged, redundant
bounds on one feature in a path merged; a path that the tree also follows with a missing value
becomes two, one with the comparison and one with "is missing"); it reproduces the tree's
prediction on the data exactly. Leaves hold at least 0.5% of the users. A numeric threshold is the roundest number between the largest value at or below the
tree's threshold and the smallest above it (``age > 40`` rather than ``age > 40.5``), which
splits the given users identically. Precision |rule ∩ cluster| / |rule| and coverage
|rule ∩ cluster| / |cluster| are counted by evaluating the rule on the data (:func:`evaluate`).

Branch semantics (what the caller's rule text must mean):

- ``<=`` / ``>`` (numeric): a missing value satisfies neither;
- ``=`` / ``!=`` a value (categorical): a missing value satisfies ``!=``;
- ``=`` / ``!=`` None: the value is missing / known (numeric or categorical);
- ``contains`` / ``not contains`` (multi-valued): a user without a list holds no value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from portrait.errors import InputError

Kind = Literal["numeric", "categorical", "multi"]
Op = Literal["<=", ">", "=", "!=", "contains", "not contains"]

KINDS: tuple[Kind, ...] = ("numeric", "categorical", "multi")
MAX_K = 50
MAX_VALUES = 1000
"""A categorical or multi-valued feature may have at most this many distinct values."""
SILHOUETTE_SAMPLE = 10_000
STABLE = 0.8
N_INIT = 4
BATCH_BYTES = 256 * 2**20
""":meth:`PersonaModel.assign` keeps a batch's encoded matrix under this many bytes."""
FORMAT = 1
"""The version of :meth:`PersonaModel.to_dict`'s layout."""

Matrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Feature:
    """One tag's values for every user, in the same user order for every feature.

    ``values``: numeric, float64 (NaN = missing); categorical, an object or str array (None or
    NaN = missing; values are compared as text); multi, a list (or set, tuple, array) of values
    per user, None = no value."""

    name: str
    kind: Kind
    values: Any


# -- encoding --------------------------------------------------------------------------------


def _key(value: Any) -> str | None:
    """A categorical value as the text it is compared by; None when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if type(value) is str else str(value)


def _items(value: Any) -> Iterable[Any]:
    """A multi-valued cell as an iterable of values (None, NaN: none; a lone string: itself)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, str):
        return (value,)
    return cast(Iterable[Any], value)


def _cells(values: Any, start: int, stop: int) -> list[Any]:
    chunk = values[start:stop]
    return cast(list[Any], chunk.tolist() if isinstance(chunk, np.ndarray) else list(chunk))


def _codes(cells: Sequence[Any], index: dict[str, int]) -> npt.NDArray[np.int64]:
    """Vocabulary positions of categorical cells (-1: missing or unseen)."""
    get = index.get
    return np.fromiter(
        (get(v, -1) if type(v) is str else get(_key(v), -1) for v in cells),  # type: ignore[arg-type]
        dtype=np.int64,
        count=len(cells),
    )


def _numbers(feature: Feature, start: int = 0, stop: int | None = None) -> npt.NDArray[np.float64]:
    try:
        return np.asarray(feature.values[start:stop], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"numeric feature '{feature.name}' has values that are not numbers",
            where=feature.name,
            hint="declare it categorical, or convert its values to numbers",
        ) from None


def _vocabulary(feature: Feature) -> tuple[list[str], float, bool]:
    """Sorted distinct values, the mean number of values per holder (multi) and whether any
    user has none."""
    n = len(feature.values)
    if feature.kind == "categorical":
        keys = {_key(v) for v in _cells(feature.values, 0, n)}
        missing = None in keys
        keys.discard(None)
        vocabulary, per_user = sorted(cast(set[str], keys)), 1.0
    else:
        seen: set[str] = set()
        holders = held = 0
        missing = False
        for cell in _cells(feature.values, 0, n):
            values = {k for v in _items(cell) if (k := _key(v)) is not None}
            seen |= values
            holders += bool(values)
            held += len(values)
            missing = missing or not values
        vocabulary, per_user = sorted(seen), max(1.0, held / holders if holders else 1.0)
    if len(vocabulary) > MAX_VALUES:
        raise InputError(
            f"feature '{feature.name}' has {len(vocabulary):,} distinct values "
            f"(at most {MAX_VALUES:,})",
            where=feature.name,
            hint="bucket it into fewer groups (or keep its most frequent values) first",
        )
    return vocabulary, per_user, missing


@dataclass(frozen=True)
class Encoding:
    """How one feature becomes columns of the encoded space (learnt from the fit sample).

    numeric: ``mean``, ``scale`` (its sd; 1 when 0) and whether a missing-value column follows;
    categorical and multi: the ``vocabulary`` and the ``weight`` of its block (1/√2 and
    1/√(2·m̄), see the module's docstring)."""

    name: str
    kind: Kind
    mean: float = 0.0
    scale: float = 1.0
    missing_column: bool = False
    vocabulary: tuple[str, ...] = ()
    weight: float = 1.0

    @classmethod
    def learn(cls, feature: Feature) -> Encoding:
        if feature.kind == "numeric":
            x = _numbers(feature)
            known = x[~np.isnan(x)]
            mean = float(known.mean()) if known.size else 0.0
            sd = float(known.std()) if known.size else 0.0
            return cls(
                feature.name,
                "numeric",
                mean=mean,
                scale=sd if sd > 0 else 1.0,
                missing_column=known.size < x.size,
            )
        vocabulary, per_user, _ = _vocabulary(feature)
        return cls(
            feature.name,
            feature.kind,
            vocabulary=tuple(vocabulary),
            weight=1 / math.sqrt(2 * per_user),
        )

    @property
    def width(self) -> int:
        if self.kind == "numeric":
            return 1 + self.missing_column
        return len(self.vocabulary)

    def columns(self) -> list[str]:
        """Names of its encoded columns: ``age``, ``age (missing)``, ``city=北京``,
        ``interests∋golf``."""
        if self.kind == "numeric":
            return [self.name] + ([f"{self.name} (missing)"] if self.missing_column else [])
        sign = "=" if self.kind == "categorical" else "∋"
        return [f"{self.name}{sign}{v}" for v in self.vocabulary]

    def fill(self, feature: Feature, start: int, stop: int, out: Matrix) -> None:
        """Writes users ``start:stop`` of ``feature`` into ``out`` (zeros, users × width)."""
        if self.kind == "numeric":
            x = _numbers(feature, start, stop)
            missing = np.isnan(x)
            z = (x - self.mean) / self.scale
            z[missing] = 0.0
            out[:, 0] = z
            if self.missing_column:
                out[:, 1] = missing
            return
        index = {v: i for i, v in enumerate(self.vocabulary)}
        cells = _cells(feature.values, start, stop)
        if self.kind == "categorical":
            codes = _codes(cells, index)
            rows = np.flatnonzero(codes >= 0)
            out[rows, codes[rows]] = self.weight
            return
        lists = [tuple(_items(c)) for c in cells]
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        codes = _codes(list(itertools.chain.from_iterable(lists)), index)
        users = np.repeat(np.arange(len(lists)), lengths)
        keep = codes >= 0
        out[users[keep], codes[keep]] = self.weight

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "numeric":
            d.update(mean=self.mean, scale=self.scale, missing_column=self.missing_column)
        else:
            d.update(vocabulary=list(self.vocabulary), weight=self.weight)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Encoding:
        kind = d["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        return cls(
            str(d["name"]),
            kind,
            mean=float(d.get("mean", 0.0)),
            scale=float(d.get("scale", 1.0)),
            missing_column=bool(d.get("missing_column", False)),
            vocabulary=tuple(str(v) for v in d.get("vocabulary", ())),
            weight=float(d.get("weight", 1.0)),
        )


def _check(features: Sequence[Feature]) -> int:
    """The number of users; an InputError for no features, bad kinds, repeated names or
    features of different lengths."""
    if not features:
        raise InputError("no features to cluster on", hint="choose at least one tag")
    names = [f.name for f in features]
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise InputError(f"feature '{repeated[0]}' is given more than once", where=repeated[0])
    for f in features:
        if f.kind not in KINDS:
            raise InputError(
                f"feature '{f.name}' has unknown kind '{f.kind}'",
                where=f.name,
                hint="numeric, categorical or multi",
            )
    lengths = {f.name: len(f.values) for f in features}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"'{n}' has {size:,}" for n, size in lengths.items())
        raise InputError(
            f"features have different numbers of users: {shown}",
            hint="give every feature's values for the same users, in the same order",
        )
    n = next(iter(lengths.values()))
    if n == 0:
        raise InputError("no users to cluster")
    return n


def _encode(
    encodings: Sequence[Encoding], features: Sequence[Feature], start: int, stop: int
) -> Matrix:
    out = np.zeros((stop - start, sum(e.width for e in encodings)), dtype=np.float32)
    at = 0
    for encoding, feature in zip(encodings, features, strict=True):
        encoding.fill(feature, start, stop, out[:, at : at + encoding.width])
        at += encoding.width
    return out


def _nearest(x: Matrix, centroids: Matrix) -> Labels:
    """The nearest centroid of every row: argmin ‖c‖² − 2·x·c."""
    scores = x @ centroids.T
    scores *= -2
    scores += np.einsum("ij,ij->i", centroids, centroids)
    return cast(Labels, scores.argmin(axis=1).astype(np.int32))


# -- the model -------------------------------------------------------------------------------


@dataclass
class PersonaModel:
    """Everything needed to assign users to the personas later: each feature's
    :class:`Encoding`, the centroids in the encoded space (k × columns) and the seed it was fit
    with. :meth:`to_dict` is plain JSON-able data."""

    encodings: list[Encoding]
    centroids: Matrix
    seed: int = 0

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def feature_names(self) -> list[str]:
        return [e.name for e in self.encodings]

    @property
    def columns(self) -> list[str]:
        """The encoded columns' names (the centroids' columns)."""
        return [c for e in self.encodings for c in e.columns()]

    def _ordered(self, features: Sequence[Feature]) -> tuple[list[Feature], int]:
        n = _check(features)
        by_name = {f.name: f for f in features}
        ordered = []
        for e in self.encodings:
            f = by_name.get(e.name)
            if f is None:
                raise InputError(
                    f"feature '{e.name}' is missing: the personas were built on "
                    + ", ".join(self.feature_names),
                    where=e.name,
                )
            if f.kind != e.kind:
                raise InputError(
                    f"feature '{e.name}' is {f.kind}; the personas were built with it {e.kind}",
                    where=e.name,
                )
            ordered.append(f)
        return ordered, n

    def encode(self, features: Sequence[Feature]) -> Matrix:
        """Users × encoded columns (float32); features are matched by name (others ignored)."""
        ordered, n = self._ordered(features)
        return _encode(self.encodings, ordered, 0, n)

    def assign(self, features: Sequence[Feature], batch: int = 1_000_000) -> Labels:
        """Every user's persona (0 … k−1, the nearest centroid), encoded ``batch`` users at a
        time (fewer when a batch's encoded matrix would pass 256 MB): the memory used beyond
        the inputs and the labels (4 bytes a user) does not grow with the number of users."""
        if batch < 1:
            raise InputError(f"batch must be at least 1, not {batch}")
        ordered, n = self._ordered(features)
        width = sum(e.width for e in self.encodings)
        step = max(1, min(batch, BATCH_BYTES // (4 * (width + self.k))))
        labels = np.empty(n, dtype=np.int32)
        for start in range(0, n, step):
            stop = min(n, start + step)
            labels[start:stop] = _nearest(
                _encode(self.encodings, ordered, start, stop), self.centroids
            )
        return labels

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "method": "kmeans",
            "k": self.k,
            "seed": self.seed,
            "features": [e.to_dict() for e in self.encodings],
            "centroids": self.centroids.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PersonaModel:
        try:
            if d.get("format") != FORMAT or d.get("method") != "kmeans":
                raise ValueError(f"unknown format {d.get('format')!r} / {d.get('method')!r}")
            encodings = [Encoding.from_dict(e) for e in d["features"]]
            centroids = np.asarray(d["centroids"], dtype=np.float32)
            width = sum(e.width for e in encodings)
            if centroids.ndim != 2 or centroids.shape != (int(d["k"]), width):
                raise ValueError(f"centroids of shape {centroids.shape}, not ({d['k']}, {width})")
            return cls(encodings, centroids, int(d["seed"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"not a saved persona model: {exc}") from None


# -- fitting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """A clustering of the sample: the model, the sample's labels, the silhouette of every k
    tried (NaN where undefined: fewer than 2 groups, or one per user), the k chosen, the
    stability (NaN with no bootstraps) and whether it reaches 0.8."""

    model: PersonaModel
    labels: Labels
    silhouette: dict[int, float]
    chosen_k: int
    stability: float
    stable: bool

    @property
    def sizes(self) -> list[int]:
        """Users of the sample in each persona."""
        return np.bincount(self.labels, minlength=self.model.k).tolist()  # type: ignore[no-any-return]


def _k_error(k: int) -> InputError:
    return InputError(
        f"k out of range: {k} (from 2 to {MAX_K})", where="k", hint=f"choose k from 2 to {MAX_K}"
    )


def _kmeans(x: Matrix, k: int, seed: int) -> Matrix:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(x)
    return cast(Matrix, np.asarray(model.cluster_centers_, dtype=np.float32))


def silhouettes(
    x: npt.NDArray[np.floating[Any]], labelings: dict[int, npt.NDArray[np.integer[Any]]]
) -> dict[int, float]:
    """The mean silhouette of each labeling of the rows of ``x`` (Euclidean), all in one pass
    over the pairwise distances (rows in chunks of about 64 MB); equal to
    ``sklearn.metrics.silhouette_score`` for each. NaN where a labeling has fewer than 2
    groups or one per row."""
    x = np.asarray(x, dtype=np.float64)
    m = len(x)
    keys = list(labelings)
    blocks: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float64], int]] = []
    onehots = []
    at = 0
    for key in keys:
        _, codes = np.unique(np.asarray(labelings[key]), return_inverse=True)
        codes = codes.astype(np.int64).ravel()
        groups = int(codes.max()) + 1
        counts = np.bincount(codes, minlength=groups).astype(np.float64)
        onehot = np.zeros((m, groups))
        onehot[np.arange(m), codes] = 1.0
        onehots.append(onehot)
        blocks.append((key, codes, counts, at))
        at += groups
    h = np.hstack(onehots)
    norms = np.einsum("ij,ij->i", x, x)
    totals = dict.fromkeys(keys, 0.0)
    step = max(1, 8_000_000 // max(m, 1))
    for start in range(0, m, step):
        stop = min(m, start + step)
        d2 = norms[start:stop, None] + norms[None, :] - 2 * (x[start:stop] @ x.T)
        np.maximum(d2, 0, out=d2)
        d = np.sqrt(d2, out=d2)
        d[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums = d @ h
        rows = np.arange(stop - start)
        for key, codes, counts, first in blocks:
            own = codes[start:stop]
            part = sums[:, first : first + len(counts)]
            size = counts[own]
            a = part[rows, own] / np.maximum(size - 1, 1)
            means = part / counts
            means[rows, own] = np.inf
            b = means.min(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                s = np.nan_to_num((b - a) / np.maximum(a, b))
            s[size <= 1] = 0.0
            totals[key] += float(s.sum())
    return {
        key: totals[key] / m if 2 <= len(counts) <= m - 1 else math.nan
        for key, _, counts, _ in blocks
    }


def _matched_jaccard(a: Labels, b: Labels, k: int) -> float:
    """Mean Jaccard of a's clusters with b's, matched one to one (Hungarian method)."""
    from scipy.optimize import linear_sum_assignment

    both = np.bincount(a.astype(np.int64) * k + b, minlength=k * k).reshape(k, k)
    union = np.bincount(a, minlength=k)[:, None] + np.bincount(b, minlength=k)[None, :] - both
    jaccard = np.divide(both, union, out=np.zeros((k, k)), where=union > 0)
    rows, cols = linear_sum_assignment(jaccard, maximize=True)
    return float(jaccard[rows, cols].sum() / k)


def fit(
    features: Sequence[Feature],
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 10),
    seed: int = 0,
    bootstraps: int = 10,
) -> Fit:
    """Personas of the users given (the sample): k clusters, or the k of ``k_range`` (clipped
    to the number of users − 1) with the best silhouette; stability over ``bootstraps``
    refits."""
    n = _check(features)
    if k is not None:
        if not 2 <= k <= MAX_K:
            raise _k_error(k)
        if n < k:
            raise InputError(
                f"fewer users ({n:,}) than personas (k = {k})",
                where="--k",
                hint="choose a smaller k",
            )
        ks = [k]
    else:
        low, high = k_range
        if not 2 <= low <= high <= MAX_K:
            raise InputError(
                f"k out of range: {low} to {high}",
                where="k_range",
                hint=f"a range from 2 to {MAX_K}, low end first",
            )
        if n < 3:
            raise InputError(
                f"too few users to choose k: {n} (at least 3)", hint="give more users, or a k"
            )
        high = min(high, n - 1)
        ks = list(range(min(low, high), high + 1))
    if bootstraps < 0:
        raise InputError(f"bootstraps must be 0 or more, not {bootstraps}")

    encodings = [Encoding.learn(f) for f in features]
    x = _encode(encodings, features, 0, n)
    at = 0
    for e in encodings:
        block = x[:, at : at + e.width]
        at += e.width
        if not (block.max(axis=0) > block.min(axis=0)).any():
            raise InputError(
                f"feature '{e.name}' has one value only: it cannot separate anyone",
                where=e.name,
                hint="leave it out of the features",
            )

    centroids = {kk: _kmeans(x, kk, seed) for kk in ks}
    labelings = {kk: _nearest(x, c) for kk, c in centroids.items()}
    rng = np.random.default_rng(seed)
    sample = (
        np.sort(rng.choice(n, SILHOUETTE_SAMPLE, replace=False))
        if n > SILHOUETTE_SAMPLE
        else np.arange(n)
    )
    silhouette = silhouettes(x[sample], {kk: lab[sample] for kk, lab in labelings.items()})
    if k is None:
        scored = [kk for kk in ks if not math.isnan(silhouette[kk])]
        k = max(scored, key=lambda kk: (silhouette[kk], -kk)) if scored else ks[0]
    labels = labelings[k]

    jaccards = []
    for b in range(bootstraps):
        resample = rng.integers(0, n, n)
        refit = _kmeans(x[resample], k, seed + 1 + b)
        jaccards.append(_matched_jaccard(labels, _nearest(x, refit), k))
    stability = float(np.mean(jaccards)) if jaccards else math.nan
    model = PersonaModel(encodings, centroids[k], seed)
    return Fit(model, labels, silhouette, k, stability, stability >= STABLE)


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    """One condition of a rule (semantics in the module's docstring; ``value`` None with
    ``=`` / ``!=`` means "is missing" / "is known")."""

    feature: str
    op: Op
    value: float | str | None


@dataclass(frozen=True)
class Approximation:
    """A rule describing one cluster: an OR of conjunctions (``paths``; ``[[]]`` is everyone,
    ``[]`` no one), most cluster users first, with its precision and coverage on the data and
    the counts behind them."""

    paths: list[list[Branch]]
    precision: float
    coverage: float
    matched: int = 0
    """Users satisfying the rule."""
    cluster_size: int = 0


def _branch_mask(feature: Feature, branch: Branch) -> npt.NDArray[np.bool_]:
    n = len(feature.values)
    if branch.value is None:
        if feature.kind == "numeric":
            missing = np.isnan(_numbers(feature))
        else:
            missing = np.array([_key(v) is None for v in _cells(feature.values, 0, n)], dtype=bool)
        return missing if branch.op == "=" else ~missing
    if feature.kind == "numeric":
        x = _numbers(feature)
        value = float(branch.value)
        with np.errstate(invalid="ignore"):
            return x <= value if branch.op == "<=" else x > value
    cells = _cells(feature.values, 0, n)
    value_key = str(branch.value)
    if feature.kind == "categorical":
        hit = np.array([_key(v) == value_key for v in cells], dtype=bool)
    else:
        hit = np.array([any(_key(v) == value_key for v in _items(c)) for c in cells], dtype=bool)
    return ~hit if branch.op in ("!=", "not contains") else hit


def evaluate(
    features: Sequence[Feature], paths: Sequence[Sequence[Branch]]
) -> npt.NDArray[np.bool_]:
    """The users satisfying a rule (an OR of conjunctions of branches)."""
    n = _check(features)
    by_name = {f.name: f for f in features}
    cache: dict[Branch, npt.NDArray[np.bool_]] = {}
    result = np.zeros(n, dtype=bool)
    for path in paths:
        mask = np.ones(n, dtype=bool)
        for branch in path:
            if branch not in cache:
                if branch.feature not in by_name:
                    raise InputError(f"the rule uses feature '{branch.feature}', not given")
                cache[branch] = _branch_mask(by_name[branch.feature], branch)
            mask &= cache[branch]
        result |= mask
    return result


@dataclass(frozen=True)
class _Column:
    """A column of the tree's design: a feature's number, one of its values, or its
    missingness."""

    feature: Feature
    value: str | None = None
    missing: bool = False


def _design(features: Sequence[Feature]) -> tuple[npt.NDArray[np.float32], list[_Column]]:
    n = len(features[0].values)
    blocks: list[npt.NDArray[np.float32]] = []
    columns: list[_Column] = []
    for f in features:
        if f.kind == "numeric":
            blocks.append(_numbers(f).astype(np.float32)[:, None])
            columns.append(_Column(f))
            continue
        vocabulary, _, missing = _vocabulary(f)
        encoding = Encoding(f.name, f.kind, vocabulary=tuple(vocabulary))
        block = np.zeros((n, encoding.width + (f.kind == "categorical" and missing)), np.float32)
        encoding.fill(f, 0, n, block[:, : encoding.width])
        columns += [_Column(f, v) for v in vocabulary]
        if f.kind == "categorical" and missing:
            block[:, -1] = block[:, :-1].sum(axis=1) == 0
            columns.append(_Column(f, missing=True))
        blocks.append(block)
    return np.hstack(blocks), columns


def nice_threshold(low: float, high: float) -> float:
    """The roundest number c with low <= c < high (fewest significant digits); ``low`` when
    there is none."""
    if not low < high:
        return low
    scale = max(abs(low), abs(high), high - low)
    step = 10.0 ** math.ceil(math.log10(scale)) if scale > 0 else 1.0
    for _ in range(30):
        c = float(f"{(math.ceil(high / step) - 1) * step:.12g}")
        if low <= c < high:
            return c
        step /= 10
    return low


_Raw = tuple[int, bool]
"""A tree branch: the node and whether the path goes right (feature > threshold)."""


def _tree_paths(tree: Any, positive: int) -> list[list[_Raw]] | bool:
    """The paths to the leaves predicting ``positive``; True when every leaf does, False when
    none does (sibling subtrees that agree are merged)."""
    t = tree.tree_

    def walk(node: int) -> list[list[_Raw]] | bool:
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left == -1:
            return bool(int(np.argmax(t.value[node][0])) == positive)
        sides = walk(left), walk(right)
        if sides[0] is True and sides[1] is True:
            return True
        if sides[0] is False and sides[1] is False:
            return False
        paths: list[list[_Raw]] = []
        for went_right, sub in zip((False, True), sides, strict=True):
            if sub is True:
                paths.append([(node, went_right)])
            elif sub is not False:
                paths += [[(node, went_right), *p] for p in sub]
        return paths

    return walk(0)


def _readable(
    raw: list[_Raw], tree: Any, columns: list[_Column], design: npt.NDArray[np.float32]
) -> list[list[Branch]]:
    """A tree path as branches on the readable features (a numeric split whose missing values
    follow the path becomes two alternatives: the comparison, or "is missing"), simplified."""
    t = tree.tree_
    conditions: dict[str, list[tuple[Branch, bool]]] = {}
    for node, went_right in raw:
        column = columns[int(t.feature[node])]
        name, kind = column.feature.name, column.feature.kind
        threshold = float(t.threshold[node])
        if kind == "numeric":
            if math.isinf(threshold):  # known values left, missing ones right
                branch = Branch(name, "=" if went_right else "!=", None)
                conditions.setdefault(name, []).append((branch, False))
                continue
            values = design[:, int(t.feature[node])].astype(np.float64)  # as the tree compares
            known = ~np.isnan(values)
            left = known & (values <= threshold)
            original = _numbers(column.feature)
            low = float(original[left].max()) if left.any() else threshold
            high = float(original[known & ~left].min()) if (known & ~left).any() else threshold
            c = nice_threshold(low, high)
            nan_follows = not known.all() and bool(t.missing_go_to_left[node]) != went_right
            branch = Branch(name, ">" if went_right else "<=", c)
            conditions.setdefault(name, []).append((branch, nan_follows))
        else:
            positive = {"categorical": ("=", "!="), "multi": ("contains", "not contains")}[kind]
            op = positive[0] if went_right else positive[1]
            branch = Branch(name, cast(Op, op), None if column.missing else column.value)
            conditions.setdefault(name, []).append((branch, False))
    alternatives = [_simplified(found) for found in conditions.values()]
    return [[b for part in combo for b in part] for combo in itertools.product(*alternatives)]


def _simplified(found: list[tuple[Branch, bool]]) -> list[list[Branch]]:
    """One feature's conditions in a path, merged: a list of alternatives (each a conjunction)."""
    branches = [b for b, _ in found]
    name = branches[0].feature
    if Branch(name, "=", None) in branches:
        return [[Branch(name, "=", None)]]
    equal = [b for b in branches if b.op == "=" and b.value is not None]
    if equal:
        return [[equal[0]]]
    numeric = [(b, nan) for b, nan in found if b.op in ("<=", ">")]
    if numeric:
        at_most = [float(cast(float, b.value)) for b, _ in numeric if b.op == "<="]
        above = [float(cast(float, b.value)) for b, _ in numeric if b.op == ">"]
        merged = ([Branch(name, ">", max(above))] if above else []) + (
            [Branch(name, "<=", min(at_most))] if at_most else []
        )
        if all(nan for _, nan in numeric) and Branch(name, "!=", None) not in branches:
            return [merged, [Branch(name, "=", None)]]
        return [merged]
    unique: list[Branch] = []
    for b in branches:
        if b not in unique:
            unique.append(b)
    return [unique]


def approximate(
    features: Sequence[Feature],
    labels: npt.ArrayLike,
    cluster: int,
    *,
    max_depth: int = 3,
    seed: int = 0,
) -> Approximation:
    """A rule of at most ``max_depth`` conditions a path approximating ``labels == cluster``
    on these users (a decision tree; leaves of at least 0.5% of the users)."""
    from sklearn.tree import DecisionTreeClassifier

    n = _check(features)
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise InputError(f"{labels.size:,} labels for {n:,} users", where="labels")
    if max_depth < 1:
        raise InputError(f"max_depth must be at least 1, not {max_depth}", where="max_depth")
    target = labels == cluster
    size = int(target.sum())
    if size == 0:
        raise InputError(f"cluster {cluster} has no users", where="cluster")
    design, columns = _design(features)
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=max(1, n // 200), random_state=seed
    ).fit(design, target)
    found = _tree_paths(tree, list(tree.classes_).index(True))
    if found is True:
        paths: list[list[Branch]] = [[]]
    elif found is False:
        paths = []
    else:
        paths = []
        for raw in found:
            paths += [p for p in _readable(raw, tree, columns, design) if p not in paths]
    paths = sorted(paths, key=lambda p: -int((evaluate(features, [p]) & target).sum()))
    rule = evaluate(features, paths)
    matched, hits = int(rule.sum()), int((rule & target).sum())
    return Approximation(
        paths,
        precision=hits / matched if matched else 0.0,
        coverage=hits / size,
        matched=matched,
        cluster_size=size,
    )


def feature_of(name: str, column: Any, value_type: str) -> Feature:
    """A profile column (Arrow) as a :class:`Feature` of the kind its value type calls for:
    numbers, dates (days) and timestamps (seconds) numeric; lists multi-valued; text and
    booleans categorical."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if value_type.startswith("list"):
        return Feature(name, "multi", column.to_pylist())
    if value_type in ("int", "float", "date", "timestamp"):
        if value_type == "date":
            column = pc.cast(column, pa.date32()).cast(pa.int32())
        elif value_type == "timestamp":
            column = pc.divide(pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64()), 1e6)
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return Feature(name, "numeric", np.asarray(values, dtype=np.float64))
    if value_type == "bool":
        column = pc.cast(column, pa.string())
    return Feature(name, "categorical", column.to_numpy(zero_copy_only=False))
