"""Circular tags: computed from the same data as a rule's own conditions."""

from __future__ import annotations

from portrait.analysis.circularity import circular_tags
from portrait.rules import parse_rule
from portrait.workspace import Workspace


def _circular(ws: Workspace, rule: str, segments: dict[str, str] | None = None) -> dict[str, str]:
    known = {name: parse_rule(text) for name, text in (segments or {}).items()}
    return circular_tags(parse_rule(rule), ws.catalog.tags.definitions, known.get)


def test_tags_read_and_computed_from_them(small_ws: Workspace) -> None:
    found = _circular(small_ws, 'age < 30 and city = "北京"')
    assert found == {
        "age": "the rule reads it",
        "city": "the rule reads it",
        "age_band": "computed from age",
    }


def test_metrics_over_the_same_events_and_what_is_derived_from_them(small_ws: Workspace) -> None:
    found = _circular(small_ws, 'events("search", last="7d") >= 1')
    # searches_7d counts searches; active_days_90d, last_seen, days_since_active and
    # car_price_max read every event (searches among them); views_30d counts views only
    assert set(found) == {
        "searches_7d",
        "active_days_90d",
        "last_seen",
        "days_since_active",
        "car_price_max",
        "price_band",
        "busy",
    }
    assert found["busy"] == "computed from searches_7d"
    assert "views_30d" not in found and "gender" not in found
    assert "searches_7d" in found and 'events("search"' in found["searches_7d"]


def test_any_event_makes_every_event_metric_circular_but_not_attributes(
    small_ws: Workspace,
) -> None:
    found = _circular(small_ws, 'active_days(last="30d") >= 2')
    assert {"views_30d", "searches_7d", "car_price_max", "price_band", "busy"} <= set(found)
    assert not {"gender", "age", "city", "cars"} & set(found)


def test_a_preference_of_the_property_the_condition_selects(small_ws: Workspace) -> None:
    found = _circular(small_ws, 'events("view", last="30d", car_brand="大众") >= 1')
    assert "cars" in found  # cars prefers car_brand, which the condition filters on
    assert "searches_7d" not in found


def test_segment_references_are_followed_to_their_rules(small_ws: Workspace) -> None:
    segments = {"young": "age < 30", "outer": 'segment("young") and gender = "女"'}
    found = _circular(small_ws, 'segment("outer") and not segment("missing")', segments)
    assert set(found) == {"age", "age_band", "gender"}


def test_a_cycle_of_segments_ends(small_ws: Workspace) -> None:
    segments = {"a": 'segment("b") and age > 1', "b": 'segment("a")'}
    assert set(_circular(small_ws, 'segment("a")', segments)) == {"age", "age_band"}


def _circular_at(ws: Workspace, rule: str) -> dict[str, str]:
    if ws.built.as_of is None:
        ws.build()
    return circular_tags(parse_rule(rule), ws.catalog.tags.definitions, as_of=ws.built.as_of)


def test_an_outcome_after_the_as_of_date_shares_no_events_with_any_tag(
    small_ws: Workspace,
) -> None:
    # every tag's window ends on the as-of date: what happens after it is an outcome to
    # explain, and past searches are what it is explained by
    assert _circular_at(small_ws, 'events("search", start=as_of + 1d, end=as_of + 30d) >= 1') == {}
    reaching_back = _circular_at(small_ws, 'events("search", start=as_of, end=as_of + 30d) >= 1')
    assert {"searches_7d", "active_days_90d", "busy"} <= set(reaching_back)


def test_a_past_window_meets_only_the_tag_windows_it_overlaps(small_ws: Workspace) -> None:
    # searches_7d covers the 7 days up to the as-of date, active_days_90d the 90 days
    found = _circular_at(small_ws, 'events("search", start=as_of - 30d, end=as_of - 7d) >= 1')
    assert "active_days_90d" in found and "last_seen" in found
    assert "searches_7d" not in found and "busy" not in found
    edge = _circular_at(small_ws, 'events("search", start=as_of - 30d, end=as_of - 6d) >= 1')
    assert "searches_7d" in edge  # as_of - 6d is the first day of the 7-day window
    # without the as-of date every window counts as overlapping
    unknown = circular_tags(
        parse_rule('events("search", start=as_of + 1d, end=as_of + 30d) >= 1'),
        small_ws.catalog.tags.definitions,
    )
    assert "searches_7d" in unknown


def test_the_tags_a_read_tag_is_computed_from(small_ws: Workspace) -> None:
    # price_band is a bucket of car_price_max: the rule decides it, and so what else reads it
    found = _circular(small_ws, 'price_band = "<20"')
    assert found["price_band"] == "the rule reads it"
    assert found["car_price_max"] == "price_band is computed from it"
    # busy is derived from views_30d and searches_7d: both decided, not the attributes
    derived = _circular(small_ws, "busy = true")
    assert derived["views_30d"] == "busy is computed from it"
    assert derived["searches_7d"] == "busy is computed from it"
    assert not {"gender", "age", "city"} & set(derived)
