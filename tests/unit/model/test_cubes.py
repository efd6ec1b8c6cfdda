"""The cube file's model (:mod:`portrait.model.cubes`): valid cubes of every kind of dimension
parse and round-trip through their file form; each bad cube is refused with a message naming
what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from portrait.model.cubes import MAX_MEMBERS, CubeSpec, Dimension, Need

PURCHASE = {
    "name": "purchase",
    "members": {
        "lipstick": 'preferred_items contains any ("lipstick")',
        "lip_balm": 'preferred_items contains any ("lip_balm")',
    },
}
CITY = {"name": "city", "tag": "city", "max_values": 6}
ACTIVITY = {"name": "activity", "segments": ["active_young"]}


def _cube(**changes: Any) -> dict[str, Any]:
    return {"name": "beauty_needs", "dimensions": [PURCHASE, CITY, ACTIVITY], **changes}


def _refused(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        CubeSpec.model_validate(data)
    return str(raised.value)


# -- valid cubes --------------------------------------------------------------------------------
def test_a_cube_of_members_a_tag_and_segments_parses() -> None:
    spec = CubeSpec.model_validate(
        _cube(
            title="美妆需求",
            needs=[
                {"cell": {"purchase": "lipstick", "city": "北京"}, "need": "想要持久不脱色"},
                {"cell": {"activity": "active_young"}, "need": "送礼", "item": "gift_box"},
            ],
        )
    )
    assert spec.name == "beauty_needs" and spec.title == "美妆需求"
    assert [d.name for d in spec.dimensions] == ["purchase", "city", "activity"]
    purchase, city, activity = spec.dimensions
    assert purchase.members == PURCHASE["members"]
    assert purchase.segments is None and purchase.tag is None
    assert (city.tag, city.max_values, city.members) == ("city", 6, None)
    assert activity.segments == ["active_young"]
    assert spec.dimension("city") is city
    assert spec.needs[0] == Need(
        cell={"purchase": "lipstick", "city": "北京"}, need="想要持久不脱色"
    )
    assert spec.needs[0].item == "" and spec.needs[1].item == "gift_box"


def test_a_tags_max_values_defaults_to_12_and_the_file_form_round_trips() -> None:
    spec = CubeSpec.model_validate(
        {"name": "c", "dimensions": [PURCHASE, {"name": "city", "tag": "city"}]}
    )
    assert spec.dimensions[1].max_values == 12
    written = spec.to_file()
    # defaults and absent sources are left out of the file
    assert written == {"name": "c", "dimensions": [PURCHASE, {"name": "city", "tag": "city"}]}
    assert CubeSpec.model_validate(written) == spec
    full = CubeSpec.model_validate(_cube(needs=[{"cell": {"city": "上海"}, "need": "n"}]))
    assert CubeSpec.model_validate(full.to_file()) == full


def test_exactly_50_members_or_segments_and_8_dimensions_are_accepted() -> None:
    members = {f"m{i}": f"age > {i}" for i in range(MAX_MEMBERS)}
    assert len(Dimension(name="d", members=members).members or {}) == 50
    assert len(Dimension(name="d", segments=[f"s{i}" for i in range(50)]).segments or []) == 50
    assert Dimension(name="d", tag="city", max_values=50).max_values == 50
    dims = [{"name": f"d{i}", "tag": "city"} for i in range(8)]
    assert len(CubeSpec.model_validate({"name": "c", "dimensions": dims}).dimensions) == 8


# -- bad cubes ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dimension", "message"),
    [
        ({"name": "d"}, "give exactly one of members, segments or tag"),
        ({"name": "d", "members": {}}, "give exactly one of members, segments or tag"),
        (
            {"name": "d", "members": {"a": "age > 1"}, "tag": "city"},
            "give exactly one of members, segments or tag",
        ),
        (
            {"name": "d", "segments": ["s"], "tag": "city"},
            "give exactly one of members, segments or tag",
        ),
        (
            {"name": "d", "members": {"a": "age > 1"}, "segments": ["s"]},
            "give exactly one of members, segments or tag",
        ),
        ({"name": "Bad", "tag": "city"}, "dimension 'Bad': a lower-case letter"),
        ({"name": "1d", "tag": "city"}, "dimension '1d': a lower-case letter"),
        ({"name": "with space", "tag": "city"}, "dimension 'with space'"),
        ({"name": "d" * 64, "tag": "city"}, "at most 63"),
        (
            {"name": "d", "members": {f"m{i}": "age > 1" for i in range(51)}},
            "at most 50 members, not 51",
        ),
        ({"name": "d", "segments": [f"s{i}" for i in range(51)]}, "at most 50 members, not 51"),
        ({"name": "d", "tag": "city", "max_values": 51}, "max_values"),
        ({"name": "d", "tag": "city", "max_values": 0}, "max_values"),
        ({"name": "d", "tag": "city", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_dimension_is_refused_naming_the_problem(
    dimension: dict[str, Any], message: str
) -> None:
    assert message in _refused({"name": "c", "dimensions": [PURCHASE, dimension]})
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        Dimension.model_validate(dimension)


def test_a_dimension_named_twice_is_refused() -> None:
    twice = {"name": "purchase", "tag": "city"}
    assert "dimension 'purchase' is named twice" in _refused(_cube(dimensions=[PURCHASE, twice]))


@pytest.mark.parametrize("dimensions", [[], [PURCHASE]])
def test_fewer_than_2_dimensions_are_refused(dimensions: list[dict[str, Any]]) -> None:
    message = _refused({"name": "c", "dimensions": dimensions})
    assert "dimensions" in message and "at least 2" in message


def test_more_than_8_dimensions_are_refused() -> None:
    dims = [{"name": f"d{i}", "tag": "city"} for i in range(9)]
    message = _refused({"name": "c", "dimensions": dims})
    assert "dimensions" in message and "at most 8" in message


def test_a_need_naming_an_unknown_dimension_is_refused() -> None:
    need = {"cell": {"purchase": "lipstick", "colour": "red"}, "need": "x"}
    assert "a need names the dimension 'colour', not in the cube" in _refused(_cube(needs=[need]))


@pytest.mark.parametrize(
    ("need", "field"),
    [
        ({"cell": {}, "need": "x"}, "cell"),
        ({"cell": {"city": "北京"}, "need": ""}, "need"),
        ({"cell": {"city": "北京"}, "need": "x" * 501}, "need"),
        ({"cell": {"city": "北京"}, "need": "x", "item": "i" * 201}, "item"),
        ({"cell": {"city": "北京"}, "need": "x", "why": "y"}, "why"),
    ],
)
def test_a_bad_need_is_refused_naming_its_field(need: dict[str, Any], field: str) -> None:
    assert f"needs.0.{field}" in _refused(_cube(needs=[need]))


@pytest.mark.parametrize("name", ["Beauty", "beauty-needs", "", "_x"])
def test_a_bad_cube_name_is_refused(name: str) -> None:
    assert f"cube '{name}': a lower-case letter" in _refused(_cube(name=name))


def test_an_unknown_key_of_the_cube_is_refused() -> None:
    assert "levels" in _refused(_cube(levels=[2]))
