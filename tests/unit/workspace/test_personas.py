"""``ws.personas``: the demo's four planted personas are found (and not by a k-means that
forgets to scale), the built persona is an ordinary tag assigned from the stored model, the
cards' numbers are exact counts, names and segments, refits and refusals (tags/ untouched),
bad input, a viewer's released numbers, and an interrupted write of tags/personas.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

import portrait
from portrait.errors import (
    AccessError,
    InputError,
    NotFoundError,
    SegmentError,
)
from portrait.model.access import Caller
from portrait.model.tags import PersonaTag
from portrait.workspace import Workspace

NAME = "lifestyle_persona"
FEATURES = [
    "sessions_per_week",
    "price_sensitivity",
    "social_shares_30d",
    "main_interest",
    "loyalty_points",
]
NUMERIC = [f for f in FEATURES if f != "main_interest"]
HABITS = ["sessions_per_week", "price_sensitivity", "social_shares_30d"]
VIEWER = Caller(actor="v", role="viewer")


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """k-means' OpenMP threads spin badly when the cores are shared (xdist workers)."""
    with threadpool_limits(1):
        yield


def _tag_files(ws: Workspace) -> dict[str, bytes]:
    """Every file of tags/ with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(ws.layout.tags_dir.iterdir())}


def _personas_yaml(ws: Workspace) -> dict[str, Any]:
    """The tag ``NAME`` as tags/personas.yaml holds it."""
    data = yaml.safe_load((ws.layout.tags_dir / "personas.yaml").read_text(encoding="utf-8"))
    (tag,) = [t for t in data["tags"] if t["name"] == NAME]
    return dict(tag)


def _built(ws: Workspace, name: str = NAME) -> dict[str, str | None]:
    """user_id → the built value of ``name``."""
    table = ws.profile([name])
    return dict(zip(table["user_id"].to_pylist(), table[name].to_pylist(), strict=True))


def _planted(ws: Workspace) -> dict[str, str]:
    """user_id → the demo's planted persona (a users column, not a tag)."""
    files = ws.warehouse.files("users")
    table = pa.concat_tables(
        pq.read_table(f, columns=["user_id", "planted_persona"]) for f in files
    )
    return dict(
        zip(table["user_id"].to_pylist(), table["planted_persona"].to_pylist(), strict=True)
    )


def _size(ws: Workspace, rule: str, caller: Caller | None = None) -> int:
    return int(ws.count(rule, caller=caller)["size"])


# -- the planted personas ---------------------------------------------------------------------
def test_the_planted_personas_are_found_and_not_without_scaling(demo_ws: Workspace) -> None:
    result = demo_ws.personas.fit(NAME, FEATURES, k=4)
    assert result["k"] == 4 and result["chosen"] is False and result["features"] == FEATURES
    assert result["sample"] == 3000  # the sample is everyone
    shares = result["shares"]
    assert list(shares) == ["P1", "P2", "P3", "P4"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert list(shares.values()) == sorted(shares.values(), reverse=True)  # P1 the largest
    assert result["stability"] >= 0.8 and result["stable"] is True
    assert set(result["silhouette"]) == {4} and 0 < result["silhouette"][4] <= 1

    report = demo_ws.build()
    assert report.computed == [NAME]  # only the new tag
    built = _built(demo_ws)
    truth = _planted(demo_ws)
    users = sorted(built)
    assert set(users) == set(truth)
    found = adjusted_rand_score([truth[u] for u in users], [built[u] for u in users])
    assert found >= 0.9, found

    # a k-means on the raw numbers (loyalty points, 0–100,000, say nothing) misses them
    table = demo_ws.profile(NUMERIC)
    order = np.argsort(table["user_id"].to_numpy(zero_copy_only=False))
    raw = np.column_stack([table[c].to_numpy().astype(np.float64) for c in NUMERIC])[order]
    unscaled = KMeans(n_clusters=4, n_init=4, random_state=0).fit_predict(raw)
    naive = adjusted_rand_score([truth[u] for u in users], unscaled)
    assert naive < 0.9, naive

    # the built sizes are the fit's shares (fitted on every user), P1 the largest
    sizes = {p: _size(demo_ws, f'{NAME} = "{p}"') for p in shares}
    assert sum(sizes.values()) == 3000
    assert sizes == {p: round(s * 3000) for p, s in shares.items()}
    assert max(sizes, key=lambda p: sizes[p]) == "P1"


# -- an ordinary tag ----------------------------------------------------------------------------
def test_the_built_persona_is_an_ordinary_tag_from_the_stored_model(demo_ws: Workspace) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    demo_ws.build()
    p1 = _size(demo_ws, f'{NAME} = "P1"')
    assert p1 > 0
    assert _size(demo_ws, f'{NAME} = "P1" or {NAME} in ("P2", "P3", "P4")') == 3000

    # insight of a persona, the persona in an insight, its distinctive values
    report = demo_ws.insight(f'{NAME} = "P1"', tags=["main_interest"])
    assert sum(r["target"] for r in report.rows if not r["missing"]) == p1
    assert max(r["tgi"] for r in report.rows if r["tgi"] is not None) > 150
    compared = demo_ws.insight("age > 40", tags=[NAME])
    assert {r["value"] for r in compared.rows if not r["missing"]} == {"P1", "P2", "P3", "P4"}
    distinctive = demo_ws.distinctive(f'{NAME} = "P1"', top=5)
    assert distinctive and NAME not in {r["tag"] for r in distinctive}

    # in the profile and in a user's 360 view
    built = _built(demo_ws)
    assert set(built.values()) == {"P1", "P2", "P3", "P4"}
    someone = sorted(built)[0]
    view = demo_ws.user(someone)
    values = {t["tag"]: t["value"] for group in view["tags"].values() for t in group}
    assert values[NAME] == built[someone]

    # building again keeps every user's persona: nothing to do, or everything recomputed
    again = demo_ws.build()
    assert again.computed == [] and _built(demo_ws) == built
    full = demo_ws.build(full=True)
    assert NAME in full.computed and _built(demo_ws) == built

    # the build assigns from the model in the definition: swap two centroids, P1 ⇄ P2
    path = demo_ws.layout.tags_dir / "personas.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    (tag,) = data["tags"]
    centroids = tag["model"]["centroids"]
    centroids[0], centroids[1] = centroids[1], centroids[0]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    swapped = demo_ws.build()
    assert swapped.computed == [NAME]
    flip = {"P1": "P2", "P2": "P1", "P3": "P3", "P4": "P4"}
    assert _built(demo_ws) == {u: flip[str(v)] for u, v in built.items()}


# -- the cards ----------------------------------------------------------------------------------
def test_the_cards_count_exactly_and_leave_circular_tags_out(demo_ws: Workspace) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    demo_ws.personas.fit("habit_persona", HABITS, k=3)  # clusters some of the same tags
    demo_ws.build()
    cards = demo_ws.personas.show(NAME, top=50)
    assert cards["name"] == NAME and cards["k"] == 4 and cards["features"] == FEATURES
    assert cards["stable"] is True and cards["privacy"] is None
    personas = cards["personas"]
    assert [c["persona"] for c in personas] == ["P1", "P2", "P3", "P4"]
    sizes = [c["size"] for c in personas]
    assert sum(sizes) == 3000 and sizes == sorted(sizes, reverse=True)
    for card in personas:
        value = card["persona"]
        assert card["rule"] == f'{NAME} = "{value}"'
        assert card["size"] == _size(demo_ws, card["rule"])
        assert card["share"] == pytest.approx(card["size"] / 3000)
        assert card["name"] == "" and card["description"] == ""
        # the approximating rule's precision and coverage are counts over every user
        approximation = card["approximation"]
        text = approximation["rule"]
        assert text, card
        matched = _size(demo_ws, text)
        hit = _size(demo_ws, f"({text}) and {card['rule']}")
        assert approximation["precision"] == pytest.approx(hit / matched)
        assert approximation["coverage"] == pytest.approx(hit / card["size"])
        assert approximation["precision"] >= 0.9 and approximation["coverage"] >= 0.9
        # distinctive values: never the persona tag itself, nor another clustering
        tags = {row["tag"] for row in card["distinctive"]}
        assert card["distinctive"] and not tags & {NAME, "habit_persona"}, tags
        assert tags <= set(demo_ws.selector().profile.tags)
    # … which would be distinctive indeed were it not circular
    habit = demo_ws.insight(personas[0]["rule"], tags=["habit_persona"])
    assert max(r["tgi"] for r in habit.rows if r["tgi"] is not None) > 150
    other = demo_ws.personas.show("habit_persona", top=50)
    assert sum(c["size"] for c in other["personas"]) == 3000
    assert not {r["tag"] for c in other["personas"] for r in c["distinctive"]} & {
        NAME,
        "habit_persona",
    }


# -- names and segments ---------------------------------------------------------------------
def test_describe_keeps_the_values_and_save_makes_segments(demo_ws: Workspace) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    demo_ws.build()
    built = _built(demo_ws)
    before = _personas_yaml(demo_ws)

    label = demo_ws.personas.describe(
        NAME, "P2", display_name="  省钱达人 ", description="buys on sale only"
    )
    assert label == {"name": "省钱达人", "description": "buys on sale only"}
    assert demo_ws.personas.describe(NAME, "P2", description="coupons") == {
        "name": "省钱达人",
        "description": "coupons",
    }
    after = _personas_yaml(demo_ws)
    assert after["labels"]["P2"] == {"name": "省钱达人", "description": "coupons"}
    assert {k: v for k, v in after.items() if k != "labels"} == {
        k: v for k, v in before.items() if k != "labels"
    }
    assert demo_ws.personas.definition(NAME).labels["P2"].name == "省钱达人"
    # a name is not a new model: nothing to build, every user keeps their persona
    assert demo_ws.build().computed == [] and _built(demo_ws) == built
    with pytest.raises(NotFoundError, match="no persona 'P9'") as unknown:
        demo_ws.personas.describe(NAME, "P9", display_name="x")
    assert unknown.value.where == "persona" and "P4" in (unknown.value.hint or "")

    cards = demo_ws.personas.show(NAME, top=3)
    assert [(c["name"], c["description"]) for c in cards["personas"]][1] == ("省钱达人", "coupons")
    saved = demo_ws.personas.save(NAME)
    assert [s["name"] for s in saved] == [f"{NAME}_p{i}" for i in range(1, 5)]
    assert [s["size"] for s in saved] == [c["size"] for c in cards["personas"]]
    assert [s["rule"] for s in saved] == [c["rule"] for c in cards["personas"]]
    assert saved[1]["description"] == "省钱达人" and saved[0]["description"] == f"{NAME} P1"
    assert {s["name"]: s["size"] for s in demo_ws.segment_list()} == {
        s["name"]: s["size"] for s in saved
    }
    with pytest.raises(SegmentError, match="exists"):
        demo_ws.personas.save(NAME)
    again = demo_ws.personas.save(NAME, replace=True)
    assert [s["size"] for s in again] == [s["size"] for s in saved]


# -- refits and refusals --------------------------------------------------------------------
def test_refits_change_the_definition_and_refusals_change_nothing(demo_ws: Workspace) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4, title="生活方式画像")
    first = demo_ws.personas.definition(NAME)
    assert isinstance(first, PersonaTag) and first.title == "生活方式画像"
    assert first.features == tuple(FEATURES) and first.k == 4 and first.category == "persona"
    assert set(first.labels) == {"P1", "P2", "P3", "P4"}
    files = _tag_files(demo_ws)

    with pytest.raises(InputError, match=f"persona tag '{NAME}' exists") as exists:
        demo_ws.personas.fit(NAME, HABITS, k=3)
    assert exists.value.where == "name" and "--replace" in (exists.value.hint or "")
    for replace in (False, True):
        with pytest.raises(InputError, match="'age' is a tag already, not a persona") as taken:
            demo_ws.personas.fit("age", FEATURES, k=4, replace=replace)
        assert taken.value.where == "name"
    with pytest.raises(AccessError):
        demo_ws.personas.fit(NAME, HABITS, k=3, replace=True, caller=VIEWER)
    with pytest.raises(NotFoundError):
        demo_ws.personas.fit(NAME, ["no_such_tag"], k=3, replace=True)
    assert _tag_files(demo_ws) == files

    result = demo_ws.personas.fit(NAME, HABITS, k=3, replace=True)
    assert result["k"] == 3 and result["features"] == HABITS
    second = demo_ws.personas.definition(NAME)
    assert second.features == tuple(HABITS) and second.k == 3
    assert second.model != first.model and len(second.model["centroids"]) == 3
    assert second.title == "生活方式画像"  # kept from the definition it replaces
    assert set(second.labels) == {"P1", "P2", "P3"}
    assert _tag_files(demo_ws) != files
    assert list(_tag_files(demo_ws)) == list(files)  # the same files, personas.yaml rewritten
    demo_ws.build()
    assert set(_built(demo_ws).values()) == {"P1", "P2", "P3"}


# -- bad input ------------------------------------------------------------------------------
def test_bad_input_is_refused_with_where(demo_ws: Workspace) -> None:
    (demo_ws.layout.tags_dir / "extra.yaml").write_text(
        'category: extra\ntags:\n  - {name: always, kind: derived, expr: "age >= 0", type: bool}\n',
        encoding="utf-8",
    )
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    with pytest.raises(InputError, match=f"persona tag '{NAME}' is not built yet") as unbuilt:
        demo_ws.personas.show(NAME)
    assert unbuilt.value.where == "name" and unbuilt.value.hint == "portrait build"
    demo_ws.build()
    files = _tag_files(demo_ws)
    fit = demo_ws.personas.fit

    with pytest.raises(InputError, match="name the tags to cluster on") as none:
        fit("lp", [], k=4)
    assert none.value.where == "--features"
    with pytest.raises(NotFoundError, match="no built tag named 'sessions_per_wek'") as unknown:
        fit("lp", ["sessions_per_wek", "main_interest"], k=4)
    assert unknown.value.where is not None
    assert "did you mean 'sessions_per_week'" in (unknown.value.hint or "")
    with pytest.raises(InputError, match="'always' has one value only") as constant:
        fit("lp", ["always", "age"], k=4)
    assert constant.value.where == "always"
    for k in (1, 51):
        with pytest.raises(InputError, match=rf"k out of range: {k} \(from 2 to 50\)") as bad_k:
            fit("lp", FEATURES, k=k)
        assert bad_k.value.where == "k"
    with pytest.raises(InputError, match="k out of range: 5 to 3") as bad_range:
        fit("lp", FEATURES, k_range=(5, 3))
    assert bad_range.value.where == "k_range"
    for sample in (99, 1_000_001):
        with pytest.raises(InputError, match="--sample must be between 100") as small:
            fit("lp", FEATURES, k=4, sample=sample)
        assert small.value.where == "--sample"
    with pytest.raises(InputError, match="'Bad-Name' cannot name a tag") as bad_name:
        fit("Bad-Name", FEATURES, k=4)
    assert bad_name.value.where == "name" and "lower-case" in (bad_name.value.hint or "")
    for replace in (False, True):
        name = NAME if replace else "lp"
        with pytest.raises(InputError, match=f"'{name}' cannot be a feature of itself") as own:
            fit(name, [*FEATURES, name], k=4, replace=replace)
        assert own.value.where == "--features"
    with pytest.raises(NotFoundError, match="'lifestyle_persna' is no persona tag") as missing:
        demo_ws.personas.show("lifestyle_persna")
    assert missing.value.where == "name"
    assert "did you mean 'lifestyle_persona'" in (missing.value.hint or "")
    with pytest.raises(NotFoundError, match="'age' is a tag but not a persona") as plain:
        demo_ws.personas.show("age")
    assert plain.value.where == "name"
    assert _tag_files(demo_ws) == files


def test_fewer_users_than_personas_is_refused(small_ws: Workspace) -> None:
    small_ws.build()  # four users: the only way below k, since a sample holds 100 or more
    files = _tag_files(small_ws)
    with pytest.raises(InputError, match=r"fewer users \(4\) than personas \(k = 5\)"):
        small_ws.personas.fit("lp", ["age", "city"], k=5)
    assert _tag_files(small_ws) == files
    assert small_ws.personas.fit("lp", ["age", "city"], k=4)["sample"] == 4


# -- a viewer -------------------------------------------------------------------------------
def test_a_viewer_cannot_fit_and_sees_released_cards(demo_ws: Workspace) -> None:
    with pytest.raises(AccessError, match="may not fit personas"):
        demo_ws.personas.fit(NAME, FEATURES, k=2, caller=VIEWER)
    assert not (demo_ws.layout.tags_dir / "personas.yaml").exists()
    demo_ws.personas.fit(NAME, FEATURES, k=2)
    demo_ws.build()
    with pytest.raises(AccessError):
        demo_ws.personas.describe(NAME, "P1", display_name="x", caller=VIEWER)
    cards = demo_ws.personas.show(NAME, caller=VIEWER)  # k = 2: well within the daily budget
    assert cards["privacy"] is not None
    sizes = [c["size"] for c in cards["personas"]]
    assert len(sizes) == 2 and all(s is None or s >= 10 for s in sizes), sizes
    exact = [_size(demo_ws, c["rule"]) for c in cards["personas"]]
    assert sum(s for s in sizes if s is not None) == pytest.approx(sum(exact), abs=60)


# -- an interrupted write -------------------------------------------------------------------
class Killed(BaseException):
    """The process dies (a signal), here between writing the new file and renaming it."""


def test_a_write_killed_before_the_rename_leaves_the_tag_file_whole(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    demo_ws.build()
    target = demo_ws.layout.tags_dir / "personas.yaml"
    files = _tag_files(demo_ws)
    real_replace = os.replace
    temps: list[bytes] = []

    def killed(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(dst) == target:
            temps.append(Path(src).read_bytes())
            raise Killed
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(Killed):
        demo_ws.personas.fit(NAME, HABITS, k=3, replace=True)
    with pytest.raises(Killed):
        demo_ws.personas.describe(NAME, "P1", display_name="家居控")
    monkeypatch.setattr(os, "replace", real_replace)

    assert len(temps) == 2  # the new files were written whole, then the process died
    assert [t["k"] for t in yaml.safe_load(temps[0])["tags"]] == [3]
    assert "家居控".encode() in temps[1]
    after = _tag_files(demo_ws)
    assert {n: b for n, b in after.items() if n.endswith(".yaml")} == files
    fresh = portrait.open(demo_ws.root)
    tag = fresh.personas.definition(NAME)
    assert tag.k == 4 and tag.features == tuple(FEATURES) and tag.labels["P1"].name == ""
    assert fresh.build().computed == []


# -- once bugs, now fixed -----------------------------------------------------------------------
def test_an_unknown_feature_is_reported_at_features(demo_ws: Workspace) -> None:
    with pytest.raises(NotFoundError) as unknown:
        demo_ws.personas.fit("lp", ["sessions_per_wek"], k=4)
    assert unknown.value.where == "--features"


def test_fewer_users_than_personas_says_where(small_ws: Workspace) -> None:
    small_ws.build()
    with pytest.raises(InputError) as few:
        small_ws.personas.fit("lp", ["age", "city"], k=5)
    assert few.value.where is not None


def test_a_viewer_sees_the_cards_of_four_personas(demo_ws: Workspace) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    demo_ws.build()
    cards = demo_ws.personas.show(NAME, caller=VIEWER)
    assert len(cards["personas"]) == 4 and cards["privacy"] is not None


def test_show_after_a_refit_is_not_stale(demo_ws: Workspace) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    demo_ws.build()
    for features, k in ((FEATURES, 5), (HABITS, 3)):
        demo_ws.personas.fit(NAME, features, k=k, replace=True)
        outcome: dict[str, Any] | InputError
        try:
            outcome = demo_ws.personas.show(NAME)
        except InputError as exc:
            outcome = exc
        if isinstance(outcome, InputError):  # refusing is right if it says to build
            assert "build" in str(outcome), str(outcome)
            continue
        cards = outcome
        assert len(cards["personas"]) == k
        assert sum(c["size"] for c in cards["personas"]) == 3000


def test_a_refused_save_creates_no_segment(demo_ws: Workspace) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    demo_ws.build()
    demo_ws.segments.create(f"{NAME}_p3", "age > 30")
    with pytest.raises(SegmentError, match="exists"):
        demo_ws.personas.save(NAME)
    assert [s["name"] for s in demo_ws.segment_list()] == [f"{NAME}_p3"]


def test_a_refit_of_a_persona_kept_in_another_file_keeps_the_catalog(
    demo_ws: Workspace,
) -> None:
    demo_ws.personas.fit(NAME, FEATURES, k=4)
    tags_dir = demo_ws.layout.tags_dir
    (tags_dir / "personas.yaml").rename(tags_dir / "mine.yaml")
    ws = portrait.open(demo_ws.root)
    files = _tag_files(ws)
    try:
        ws.personas.fit(NAME, HABITS, k=3, replace=True)
    except InputError:
        assert _tag_files(ws) == files
        return
    assert portrait.open(demo_ws.root).personas.definition(NAME).k == 3
