"""``ws.discovery.rank``: feature ranking on a built demo, checked against scikit-learn and
SciPy over the profile itself; circular tags left out (also of distinctive features); bad input."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.stats.contingency import association
from sklearn.metrics import mutual_info_score

import portrait
from portrait.errors import AccessError, InputError, NotFoundError
from portrait.model.access import Caller
from portrait.workspace import Workspace

TARGET = 'gender = "女" and age >= 30'


def _profile(ws: Workspace) -> dict[str, np.ndarray]:
    table = pq.read_table(ws.selector().profile.profile_file)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.schema.names}


def test_ranking_agrees_with_sklearn_and_scipy_on_the_profile(demo_ws: Workspace) -> None:
    ranking = demo_ws.discovery.rank(TARGET)
    rows = {r["tag"]: r for r in ranking.rows}
    columns = _profile(demo_ws)
    age = columns["age"].astype(float)
    member = (columns["gender"] == "女") & (age >= 30)
    assert ranking.target_size == member.sum() and ranking.universe_size == member.size
    # categorical: the missing value is a category of its own
    for tag in ("city", "education", "rfm_segment"):
        labels = np.array(["(missing)" if v is None else v for v in columns[tag]])
        assert rows[tag]["mutual_info"] == pytest.approx(
            mutual_info_score(member, labels), rel=1e-9
        ), tag
        table = np.array(
            [[np.sum(member & (labels == v)), np.sum(~member & (labels == v))] for v in set(labels)]
        )
        assert rows[tag]["cramers_v"] == pytest.approx(
            association(table, method="cramer", correction=False), rel=1e-9
        )
        assert rows[tag]["coverage"] == pytest.approx(np.mean(labels != "(missing)"))
    # numeric: point-biserial over the values, Spearman exact for a tag of few values
    for tag in ("spend_365d", "orders_365d", "registered_at"):
        raw = columns[tag]
        known = (
            np.array([v is not None for v in raw])
            if raw.dtype == object
            else ~np.isnan(raw.astype("float64") if raw.dtype.kind != "M" else np.zeros(raw.size))
        )
        values = (
            raw[known].astype("datetime64[us]").astype(np.int64).astype(np.float64)
            if raw.dtype.kind == "M"
            else raw[known].astype(np.float64)
        )
        expected = stats.pointbiserialr(member[known], values)[0]
        assert rows[tag]["point_biserial"] == pytest.approx(expected, rel=1e-7), tag
        assert rows[tag]["higher_in_target"] == (expected > 0)
    orders = columns["orders_365d"].astype(np.float64)
    assert rows["orders_365d"]["spearman_exact"] is True
    assert rows["orders_365d"]["spearman"] == pytest.approx(
        stats.spearmanr(member, orders)[0], rel=1e-9
    )
    # best first by mutual information; the rule's own tags are left out with why
    mi = [r["mutual_info"] for r in ranking.rows]
    assert mi == sorted(mi, reverse=True)
    assert ranking.left_out == {
        "gender": "the rule reads it",
        "age": "the rule reads it",
        "age_band": "computed from age",
    }
    flagged = demo_ws.discovery.rank(TARGET, include_circular=True, tags=["age_band", "city"])
    assert {r["tag"]: r["circular"] for r in flagged.rows} == {
        "age_band": "computed from age",
        "city": None,
    }


OUTCOME = 'events("order", start=as_of + 1d, end=as_of + 30d) >= 1'


def test_an_outcome_after_the_as_of_date_is_ranked_by_the_tags_before_it(
    demo_ws: Workspace,
) -> None:
    # on a profile as of the data's last day the outcome has no members yet
    for analyse in (
        lambda: demo_ws.discovery.rank(OUTCOME),
        lambda: demo_ws.discovery.subgroups(OUTCOME),
        lambda: demo_ws.discovery.niche(["city", "education"], target=OUTCOME),
    ):
        with pytest.raises(InputError, match="after the as-of date") as refused:
            analyse()
        assert "data.as_of" in (refused.value.hint or "")
    # decided from the data, not the members: a viewer learns nothing of whom a rule picks
    viewer = Caller("v", "viewer")
    for rule in ("age >= 30", "age < 0"):  # some users, none: the same refusal
        with pytest.raises(InputError, match="after the as-of date"):
            demo_ws.discovery.subgroups(f"{OUTCOME} and {rule}", caller=viewer)
    # tags as of a month before the data ends; the target: ordered in the 30 days after
    ws = portrait.open(demo_ws.root, overrides={"data.as_of": "2026-09-30"})
    ws.build()
    ranking = ws.discovery.rank(OUTCOME)
    rows = {r["tag"]: r for r in ranking.rows}
    # with data after the as-of date, a viewer's empty outcome is answered like any other
    # target (its size suppressed), not refused
    nobody = ws.discovery.rank(f"{OUTCOME} and age < 0", caller=viewer)
    assert nobody.target_size is None and nobody.privacy is not None
    # past orders explain future ones: not circular (every tag's window ends on 09-30)
    assert ranking.left_out == {}
    assert "orders_365d" in rows and rows["orders_365d"]["circular"] is None
    assert rows["orders_365d"]["higher_in_target"] is True
    # independent references: members from the raw events by SQL, the tags from the profile
    columns = _profile(ws)
    member = np.zeros(columns["uid"].size, dtype=bool)
    member[np.asarray(ws.select_sql(OUTCOME).bitmap.to_array())] = True
    assert 0 < ranking.target_size == member.sum() < member.size
    labels = np.array(["(missing)" if v is None else v for v in columns["city"]])
    assert rows["city"]["mutual_info"] == pytest.approx(mutual_info_score(member, labels), rel=1e-9)
    orders = columns["orders_365d"].astype(np.float64)
    known = ~np.isnan(orders)
    assert rows["orders_365d"]["point_biserial"] == pytest.approx(
        stats.pointbiserialr(member[known], orders[known])[0], rel=1e-7
    )


def test_a_baseline_is_the_universe(demo_ws: Workspace) -> None:
    ranking = demo_ws.discovery.rank(TARGET, baseline='city = "北京"', tags=["education"])
    columns = _profile(demo_ws)
    inside = columns["city"] == "北京"
    member = (columns["gender"] == "女") & (columns["age"].astype(float) >= 30) & inside
    labels = np.array(["(missing)" if v is None else v for v in columns["education"]])
    assert ranking.universe_size == inside.sum() and ranking.target_size == member.sum()
    assert ranking.rows[0]["mutual_info"] == pytest.approx(
        mutual_info_score(member[inside], labels[inside]), rel=1e-9
    )


def test_distinctive_features_leave_out_circular_tags(demo_ws: Workspace) -> None:
    demo_ws.segments.create("active_young", 'age < 30 and active_days(last="30d") >= 5')
    rows = demo_ws.insights.distinctive("active_young", top=50)
    tags = {r["tag"] for r in rows}
    assert rows and not tags & {"age", "age_band", "active_days_30d", "events_7d", "activity_level"}


def test_viewer_gets_released_numbers_only(demo_ws: Workspace) -> None:
    viewer = Caller(actor="v", role="viewer")
    ranking = demo_ws.discovery.rank(TARGET, tags=["city", "spend_365d"], caller=viewer)
    assert ranking.privacy is not None
    assert all(r["point_biserial"] is None for r in ranking.rows)  # reads values: not released


def test_bad_input(demo_ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="did you mean 'city'"):
        demo_ws.discovery.rank(TARGET, tags=["cty"])
    with pytest.raises(InputError, match="no members") as empty:
        demo_ws.discovery.rank("age > 1000", tags=["city"])
    assert empty.value.where == "target"
    with pytest.raises(InputError, match="holds every user"):
        demo_ws.discovery.rank("age >= 0 or age is null", tags=["city"])
    with pytest.raises(InputError, match="cannot rank by 'lift'") as by:
        demo_ws.discovery.rank(TARGET, by="lift")
    assert by.value.where == "--by"
    with pytest.raises(InputError, match="no tag left"):
        demo_ws.discovery.rank(TARGET, tags=["age", "age_band"])


def test_ranking_against_a_metric_agrees_with_sklearn_and_scipy(demo_ws: Workspace) -> None:
    ranking = demo_ws.discovery.rank_metric(
        "work_years", tags=["city", "education", "age", "work_years_band"]
    )
    rows = {r["tag"]: r for r in ranking.rows}
    columns = _profile(demo_ws)
    # the classes are work_years' insight bins: each user's bin, by dense id
    bins = demo_ws.discovery.cells("work_years", max_values=None, include_missing=False)
    assert 2 <= len(bins) <= 12
    of_uid = np.full(len(columns["uid"]), -1)
    for i, cell in enumerate(bins):
        of_uid[np.asarray(cell.members.to_array())] = i
    years = of_uid[columns["uid"].astype(int)].astype(float)
    for tag in ("city", "education"):
        labels = np.array(["(missing)" if v is None else v for v in columns[tag]])
        assert rows[tag]["mutual_info"] == pytest.approx(mutual_info_score(years, labels), rel=1e-9)
    # a binned numeric tag: Spearman over its bins (flagged not exact)
    age_of_uid = np.full(len(columns["uid"]), -1)
    for i, cell in enumerate(
        demo_ws.discovery.cells("age", max_values=None, include_missing=False)
    ):
        age_of_uid[np.asarray(cell.members.to_array())] = i
    age = age_of_uid[columns["uid"].astype(int)]
    known = age >= 0
    assert rows["age"]["spearman_exact"] is False
    assert rows["age"]["spearman"] == pytest.approx(
        stats.spearmanr(years[known], age[known])[0], rel=1e-9
    )
    assert ranking.metric == "work_years" and "work_years_band" in ranking.left_out
    with pytest.raises(AccessError, match="exact numbers"):
        demo_ws.discovery.rank_metric("work_years", caller=Caller(actor="v", role="viewer"))
    with pytest.raises(InputError, match="not numeric") as text:
        demo_ws.discovery.rank_metric("city")
    assert text.value.where == "--metric"
