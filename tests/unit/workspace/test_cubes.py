"""``ws.cubes`` on a built demo: cubes defined from a mapping and from a YAML file (members as
rules, saved segments, a tag's values); every cell's users are what its rule selects (counted
by the workspace itself) and every non-empty cell is listed (brute force over the members'
rules); inferred needs stored in the file; a cell saved as a segment and turned into a
campaign with a variant per need and a blank control; bad input refused saying where, with
nothing written; what a viewer gets; an interrupted write; the ``portrait cube`` commands."""

from __future__ import annotations

import itertools
import json
import pathlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from portrait.cli.app import app
from portrait.errors import AccessError, InputError, NotFoundError
from portrait.model.access import Caller
from portrait.model.cubes import CubeSpec
from portrait.model.rules import And, Not, Or, Rule, SegmentRef, TagCondition
from portrait.rules import parse_rule
from portrait.workspace import Workspace
from tests.unit.workspace.demo_facts import ORDERS_TAGS

VIEWER = Caller(actor="v", role="viewer")
POPULATION = 3000
PURCHASE = {
    "lipstick": 'preferred_items contains any ("lipstick")',
    "lip_balm": 'preferred_items contains any ("lip_balm")',
}
USAGE = {"often": "orders_365d >= 3", "sometimes": "orders_365d between 1 and 2"}
BEAUTY: dict[str, Any] = {
    "name": "beauty",
    "title": "美妆需求",
    "dimensions": [
        {"name": "purchase", "members": PURCHASE},
        {"name": "usage", "members": USAGE},
        {"name": "city", "tag": "city", "max_values": 3},
        {"name": "buying", "segments": ["buyers"]},
    ],
}
BEAUTY_YAML = """\
name: beauty_needs
title: 美妆需求
dimensions:
  - name: purchase
    members:
      lipstick: 'preferred_items contains any ("lipstick")'
      lip_balm: 'preferred_items contains any ("lip_balm")'
  - name: usage
    members:
      often: 'orders_365d >= 3'
      sometimes: 'orders_365d between 1 and 2'
  - name: city
    tag: city
    max_values: 3
"""
LIP_OFTEN = {"purchase": "lipstick", "usage": "often"}


def _beauty(ws: Workspace) -> dict[str, Any]:
    """The segment the cube's last dimension names, and the cube."""
    ws.audiences.segments.create("buyers", "orders_365d >= 1")
    return ws.cubes.create(BEAUTY)


def _top_cities(ws: Workspace, n: int) -> list[str]:
    profile = pq.read_table(ws.selector().profile.profile_file, columns=["city"]).to_pandas()
    counts = profile["city"].dropna().value_counts()
    assert counts.iloc[n - 1] > counts.iloc[n], "no tie at the cut"
    return list(counts.index[:n])


def _member_rules(ws: Workspace) -> dict[str, dict[str, str]]:
    """Each dimension's members and the rule selecting them, written by hand."""
    return {
        "purchase": PURCHASE,
        "usage": USAGE,
        "city": {c: f'city = "{c}"' for c in _top_cities(ws, 3)},
        "buying": {"buyers": 'segment("buyers")'},
    }


def _size(ws: Workspace, rule: str) -> int:
    return int(ws.count(rule)["size"])


def _read_tags(ws: Workspace, rule: Rule) -> set[str]:
    """The tags a rule reads, following the segments it names."""
    if isinstance(rule, And | Or):
        return set().union(*(_read_tags(ws, r) for r in rule.items))
    if isinstance(rule, Not):
        return _read_tags(ws, rule.item)
    if isinstance(rule, SegmentRef):
        return _read_tags(ws, parse_rule(ws.audiences.segments.info(rule.name)["rule"]))
    assert isinstance(rule, TagCondition), rule
    return {rule.tag}


def _folder(ws: Workspace) -> dict[str, bytes]:
    folder = ws.root / "cubes"
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}


def _cell(show: dict[str, Any], cell: dict[str, str]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in show["cells"] if c["cell"] == cell]
    assert len(found) == 1, cell
    return found[0]


# -- 1. defining a cube -------------------------------------------------------------------------
def test_a_cube_from_a_mapping_and_from_a_yaml_file_is_stored_in_cubes(
    demo_ws: Workspace, tmp_path: Path
) -> None:
    created = _beauty(demo_ws)
    cities = _top_cities(demo_ws, 3)
    assert created["name"] == "beauty"
    assert created["dimensions"] == {
        "purchase": ["lipstick", "lip_balm"],
        "usage": ["often", "sometimes"],
        "city": created["dimensions"]["city"],
        "buying": ["buyers"],
    }
    assert sorted(created["dimensions"]["city"]) == sorted(cities)
    assert (demo_ws.root / "cubes" / "beauty.yaml").is_file()
    assert demo_ws.cubes.spec("beauty") == CubeSpec.model_validate(BEAUTY)

    file = tmp_path / "needs.yaml"
    file.write_text(BEAUTY_YAML, encoding="utf-8")
    from_file = demo_ws.cubes.create(file)
    assert from_file["name"] == "beauty_needs"
    assert list(from_file["dimensions"]) == ["purchase", "usage", "city"]
    assert demo_ws.cubes.names() == ["beauty", "beauty_needs"]
    spec = demo_ws.cubes.spec("beauty_needs")
    assert spec.title == "美妆需求" and spec.dimension("city").max_values == 3
    # a file given as a string path works the same, and replace=True replaces
    assert demo_ws.cubes.create(str(file), replace=True)["name"] == "beauty_needs"
    assert demo_ws.cubes.spec("beauty_needs") == spec


# -- 2. the cells -------------------------------------------------------------------------------
def test_show_lists_every_non_empty_cell_once_with_the_users_its_rule_selects(
    demo_ws: Workspace,
) -> None:
    _beauty(demo_ws)
    shown = demo_ws.cubes.show("beauty", describe=3)
    assert shown["name"] == "beauty" and shown["title"] == "美妆需求"
    assert shown["levels"] == [2, 3, 4] and shown["privacy"] is None
    cells = shown["cells"]
    keys = [c["key"] for c in cells]
    assert len(keys) == len(set(keys))
    for cell in cells:
        assert cell["users"] == _size(demo_ws, cell["rule"]) >= 1, cell["key"]
        assert cell["share"] == pytest.approx(cell["users"] / POPULATION)
        assert cell["level"] == len(cell["cell"]) and cell["needs"] == []
        assert cell["key"] == ",".join(f"{d}={m}" for d, m in cell["cell"].items())
    users = [c["users"] for c in cells]
    assert users == sorted(users, reverse=True), "largest first"

    # brute force: every choice of 2-4 dimensions and a member of each, by the members' rules
    rules = _member_rules(demo_ws)
    expected: dict[tuple[tuple[str, str], ...], int] = {}
    for level in (2, 3, 4):
        for dims in itertools.combinations(rules, level):
            for labels in itertools.product(*(rules[d] for d in dims)):
                rule = " and ".join(f"({rules[d][m]})" for d, m in zip(dims, labels, strict=True))
                size = _size(demo_ws, rule)
                if size:
                    expected[tuple(zip(dims, labels, strict=True))] = size
    assert {tuple(c["cell"].items()): c["users"] for c in cells} == expected
    assert any(c["level"] == 4 for c in cells)

    # levels=[2]: the 2-level cells only, the same ones
    two = demo_ws.cubes.show("beauty", levels=[2], describe=0)
    assert two["levels"] == [2]
    assert [c["key"] for c in two["cells"]] == [c["key"] for c in cells if c["level"] == 2]
    assert all("distinctive" not in c for c in two["cells"])
    # min_users leaves out the smaller cells
    big = demo_ws.cubes.show("beauty", min_users=20, describe=0)
    assert [c["key"] for c in big["cells"]] == [c["key"] for c in cells if c["users"] >= 20]

    # the 3 largest are described; the rest are not
    assert shown["items_tag"] == "preferred_items"
    with_value = _size(demo_ws, "preferred_items is not null")
    for cell in cells[:3]:
        rule = cell["rule"]
        read = _read_tags(demo_ws, parse_rule(rule))
        distinctive = {r["tag"] for r in cell["distinctive"]}
        assert 1 <= len(cell["distinctive"]) <= 3
        assert not distinctive & read, rule
        if "orders_365d" in read:
            assert not distinctive & ORDERS_TAGS, rule
        assert len(cell["recommended"]) <= 3
        in_cell = _size(demo_ws, f"({rule}) and preferred_items is not null")
        for item in cell["items"]:
            condition = f'preferred_items contains any ("{item["item"]}")'
            share = _size(demo_ws, f"({rule}) and {condition}") / in_cell
            base = _size(demo_ws, condition) / with_value
            assert item["tgi"] == pytest.approx(100 * share / base, rel=1e-9), item
            assert item["tgi"] > 100
        if cell["items"]:
            assert cell["items"][0]["item"] not in cell["recommended"]
    assert any(c["items"] for c in cells[:3]) and any(c["recommended"] for c in cells[:3])
    assert all("distinctive" not in c and "items" not in c for c in cells[3:])


# -- 3. needs, segments and campaigns -----------------------------------------------------------
def test_needs_are_stored_in_the_file_listed_on_their_cell_and_removed(demo_ws: Workspace) -> None:
    _beauty(demo_ws)
    file = demo_ws.root / "cubes" / "beauty.yaml"
    first = demo_ws.cubes.need("beauty", LIP_OFTEN, " 想要持久不脱色 ", item="lip_liner")
    assert first == [{"cell": LIP_OFTEN, "need": "想要持久不脱色", "item": "lip_liner"}]
    # the same cell named in another order, and a need on another cell
    second = demo_ws.cubes.need("beauty", {"usage": "often", "purchase": "lipstick"}, "送礼")
    assert [n["need"] for n in second] == ["想要持久不脱色", "送礼"]
    demo_ws.cubes.need("beauty", {"city": _top_cities(demo_ws, 1)[0], "buying": "buyers"}, "近")
    needs = demo_ws.cubes.spec("beauty").needs
    assert [(n.cell, n.need, n.item) for n in needs] == [
        (LIP_OFTEN, "想要持久不脱色", "lip_liner"),
        ({"usage": "often", "purchase": "lipstick"}, "送礼", ""),
        ({"city": _top_cities(demo_ws, 1)[0], "buying": "buyers"}, "近", ""),
    ]
    assert "想要持久不脱色" in file.read_text(encoding="utf-8")  # written as it reads

    shown = demo_ws.cubes.show("beauty", levels=[2], describe=0)
    cell = _cell(shown, LIP_OFTEN)
    assert [(n["need"], n["item"]) for n in cell["needs"]] == [
        ("想要持久不脱色", "lip_liner"),
        ("送礼", ""),
    ]
    assert sum(len(c["needs"]) for c in shown["cells"]) == 3

    left = demo_ws.cubes.need("beauty", LIP_OFTEN, "送礼", remove=True)
    assert [n["need"] for n in left] == ["想要持久不脱色"]
    assert [n.need for n in demo_ws.cubes.spec("beauty").needs] == ["想要持久不脱色", "近"]
    before = file.read_bytes()
    with pytest.raises(NotFoundError, match="no need '送礼'") as missing:
        demo_ws.cubes.need("beauty", LIP_OFTEN, "送礼", remove=True)
    assert missing.value.where == "--need"
    with pytest.raises(InputError, match="say what the need is"):
        demo_ws.cubes.need("beauty", LIP_OFTEN, "  ")
    assert file.read_bytes() == before


def test_a_cell_is_saved_as_a_segment_and_becomes_a_campaign_with_a_variant_per_need(
    demo_ws: Workspace,
) -> None:
    _beauty(demo_ws)
    shown = demo_ws.cubes.show("beauty", levels=[2], describe=0)
    cell = _cell(shown, LIP_OFTEN)
    rule = demo_ws.cubes.cell_rule("beauty", LIP_OFTEN)
    assert rule == cell["rule"]
    assert _size(demo_ws, rule) == _size(demo_ws, f"({PURCHASE['lipstick']}) and {USAGE['often']}")

    saved = demo_ws.cubes.save("beauty", LIP_OFTEN, "lipstick_often")
    assert saved["name"] == "lipstick_often" and saved["size"] == cell["users"]
    assert demo_ws.audiences.segments.info("lipstick_often")["size"] == cell["users"]
    assert _size(demo_ws, 'segment("lipstick_often")') == cell["users"]

    with pytest.raises(InputError, match="no inferred need") as none:
        demo_ws.cubes.campaign("beauty", LIP_OFTEN, "lip_needs")
    assert none.value.where == "--cell" and demo_ws.campaigns.all() == []

    demo_ws.cubes.need("beauty", LIP_OFTEN, "想要持久不脱色", item="lip_liner")
    demo_ws.cubes.need("beauty", LIP_OFTEN, "送礼", item="gift_box")
    demo_ws.cubes.need("beauty", LIP_OFTEN, "试色")
    with pytest.raises(InputError, match="between 5 and 50") as control:
        demo_ws.cubes.campaign("beauty", LIP_OFTEN, "lip_needs", control=60)
    assert control.value.where == "--control" and demo_ws.campaigns.all() == []

    made = demo_ws.cubes.campaign("beauty", LIP_OFTEN, "lip_needs", control=10)
    assert made["name"] == "lip_needs" and made["state"] == "draft"
    spec = demo_ws.campaigns.show("lip_needs")["spec"]
    assert spec["audience"] == rule and spec["control"] == 10 and spec["channel"] == "file"
    variants = spec["variants"]
    assert [v["name"] for v in variants] == ["need_1", "need_2", "need_3"]
    assert sum(v["weight"] for v in variants) == 90
    assert max(v["weight"] for v in variants) - min(v["weight"] for v in variants) <= 1
    rendered = [jinja2.Template(v["template"]).render() for v in variants]
    assert rendered == ["想要持久不脱色：为你推荐 lip_liner", "送礼：为你推荐 gift_box", "试色"]
    two = {"usage": "sometimes", "city": _top_cities(demo_ws, 1)[0]}
    demo_ws.cubes.need("beauty", two, "a")
    demo_ws.cubes.need("beauty", two, "b")
    default = demo_ws.campaigns.show(demo_ws.cubes.campaign("beauty", two, "two")["name"])
    assert default["spec"]["control"] == 20
    assert [v["weight"] for v in default["spec"]["variants"]] == [40, 40]
    assert sorted(c["name"] for c in demo_ws.campaigns.all()) == ["lip_needs", "two"]


def test_a_need_with_braces_gives_a_campaign_whose_message_prints_them(
    demo_ws: Workspace,
) -> None:
    _beauty(demo_ws)
    demo_ws.cubes.need("beauty", LIP_OFTEN, "送礼 {节日}", item="gift_box")
    made = demo_ws.cubes.campaign("beauty", LIP_OFTEN, "braces")
    (variant,) = made["spec"]["variants"]
    assert jinja2.Template(variant["template"]).render() == "送礼 {节日}：为你推荐 gift_box"


# -- 4. bad input -------------------------------------------------------------------------------
def test_bad_input_is_refused_saying_where_and_nothing_is_written(
    demo_ws: Workspace, tmp_path: Path
) -> None:
    _beauty(demo_ws)
    before = _folder(demo_ws)
    segments = demo_ws.segments.all()
    usage = {"name": "usage", "members": USAGE}
    city = {"name": "city", "tag": "city", "max_values": 3}
    cases: list[tuple[dict[str, Any], type[InputError], str, str, str | None]] = [
        (
            {"name": "x", "dimensions": [usage, {"name": "seg", "segments": ["buyer"]}]},
            NotFoundError,
            "dimension 'seg': no segment named 'buyer'",
            "dimensions.seg",
            "did you mean 'buyers'?",
        ),
        (
            {
                "name": "x",
                "dimensions": [city, {"name": "use", "members": {"a": "orders_365d >="}}],
            },
            InputError,
            "dimension 'use', member 'a': cannot parse the rule",
            "dimensions.use.a",
            None,
        ),
        (
            {"name": "x", "dimensions": [city, {"name": "use", "members": {"a": "agee >= 3"}}]},
            InputError,
            "dimension 'use', member 'a': unknown tag 'agee'",
            "dimensions.use.a",
            "did you mean 'age'",
        ),
        (
            {"name": "x", "dimensions": [usage, {"name": "place", "tag": "cty"}]},
            NotFoundError,
            "no built tag named 'cty'",
            "",
            "did you mean 'city'?",
        ),
        (
            {**BEAUTY, "needs": [{"cell": {"usage": "oftn"}, "need": "n"}]},
            InputError,
            "cube 'beauty' exists",
            "name",
            "--replace",
        ),
        (
            {
                "name": "x",
                "dimensions": [usage, city],
                "needs": [{"cell": {"usage": "oftn"}, "need": "n"}],
            },
            NotFoundError,
            "dimension 'usage' has no member 'oftn'",
            "--cell",
            "did you mean 'often'?",
        ),
        (
            {"name": "x", "dimensions": [usage]},
            InputError,
            "dimensions: List should have at least 2 items",
            "cube",
            "docs/discovery.md#segment-intersections",
        ),
    ]
    for definition, error, message, where, hint in cases:
        with pytest.raises(error) as raised:
            demo_ws.cubes.create(definition)
        assert message in raised.value.message, (raised.value.message, definition)
        if where:
            assert raised.value.where == where, definition
        assert raised.value.where, definition
        if hint:
            assert raised.value.hint and hint in raised.value.hint, raised.value.hint
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: x\ndimensions: [ {name: a\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML") as raised:
        demo_ws.cubes.create(bad_yaml)
    assert raised.value.where == str(bad_yaml)
    with pytest.raises(NotFoundError, match="no file"):
        demo_ws.cubes.create(tmp_path / "missing.yaml")

    # cells naming an unknown dimension or member, for every action on a cell
    actions: list[Callable[[dict[str, str]], object]] = [
        lambda cell: demo_ws.cubes.need("beauty", cell, "n"),
        lambda cell: demo_ws.cubes.save("beauty", cell, "s"),
        lambda cell: demo_ws.cubes.cell_rule("beauty", cell),
    ]
    for act in actions:
        for cell, message, hint in [
            ({"usag": "often"}, "the cube has no dimension 'usag'", "did you mean 'usage'?"),
            ({"usage": "oftn"}, "dimension 'usage' has no member 'oftn'", "'often'"),
            ({"purchase": "lipstik", "usage": "often"}, "no member 'lipstik'", "'lipstick'"),
        ]:
            with pytest.raises(NotFoundError) as raised:
                act(cell)
            assert message in raised.value.message and raised.value.where == "--cell"
            assert raised.value.hint and hint in raised.value.hint
    with pytest.raises(InputError, match="1 to 4 dimensions"):
        demo_ws.cubes.need("beauty", {}, "n")
    with pytest.raises(NotFoundError) as unknown:
        demo_ws.cubes.show("beauti")
    assert unknown.value.where == "cube" and unknown.value.hint == "did you mean 'beauty'?"
    with pytest.raises(NotFoundError, match="no cube named 'nothing'"):
        demo_ws.cubes.need("nothing", LIP_OFTEN, "n")
    for levels in ([5], [1, 2]):
        with pytest.raises(InputError, match="levels are 2, 3 or 4") as raised:
            demo_ws.cubes.show("beauty", levels=levels)
        assert raised.value.where == "--levels"
    assert _folder(demo_ws) == before and demo_ws.cubes.names() == ["beauty"]
    assert demo_ws.segments.all() == segments


def test_an_unknown_tag_names_its_dimension(demo_ws: Workspace) -> None:
    usage = {"name": "usage", "members": USAGE}
    with pytest.raises(NotFoundError) as raised:
        demo_ws.cubes.create({"name": "x", "dimensions": [usage, {"name": "place", "tag": "cty"}]})
    assert raised.value.where == "dimensions.place"


# -- 5. a viewer --------------------------------------------------------------------------------
def test_a_viewer_cannot_define_and_sees_released_sizes_only(demo_ws: Workspace) -> None:
    _beauty(demo_ws)
    demo_ws.cubes.need("beauty", LIP_OFTEN, "想要持久不脱色")
    before = _folder(demo_ws)
    with pytest.raises(AccessError, match="may not define cubes"):
        demo_ws.cubes.create({**BEAUTY, "name": "mine"}, caller=VIEWER)
    with pytest.raises(AccessError):
        demo_ws.cubes.need("beauty", LIP_OFTEN, "n", caller=VIEWER)
    with pytest.raises(AccessError):
        demo_ws.cubes.save("beauty", LIP_OFTEN, "seen", caller=VIEWER)
    assert _folder(demo_ws) == before

    shown = demo_ws.cubes.show("beauty", describe=1, caller=VIEWER)
    privacy = shown["privacy"]
    assert privacy is not None and privacy["min_count"] == 10 and "null" in privacy["note"]
    exact = {c["key"]: c["users"] for c in demo_ws.cubes.show("beauty", describe=0)["cells"]}
    cells = shown["cells"]
    # cells under the smallest released count are not listed at all (their presence would
    # tell their size); the others are listed with released sizes
    assert {c["key"] for c in cells} == {k for k, n in exact.items() if n >= 10}
    assert any(n < 10 for n in exact.values())
    noisy = 0
    for cell in cells:
        if cell["users"] is None:
            assert cell["share"] is None, cell["key"]
            assert not {"distinctive", "items", "recommended"} & set(cell), cell["key"]
        else:
            assert cell["users"] >= 10, cell["key"]
            assert cell["share"] == pytest.approx(cell["users"] / POPULATION)
            noisy += cell["users"] != exact[cell["key"]]
    assert noisy, "released sizes are noisy"
    released = [c for c in cells if c["users"] is not None]
    assert [c["users"] for c in released] == sorted((c["users"] for c in released), reverse=True)
    assert all(c["users"] is None for c in cells[len(released) :]), "hidden cells last"
    assert "distinctive" in cells[0] and "distinctive" not in cells[1]
    assert _cell(shown, LIP_OFTEN)["needs"][0]["need"] == "想要持久不脱色"
    # cells of the same users get the same released size
    by_users: dict[frozenset[int], set[int | None]] = {}
    for cell in cells:
        uids = frozenset(demo_ws.select(cell["rule"]).uids())
        by_users.setdefault(uids, set()).add(cell["users"])
    assert all(len(sizes) == 1 for sizes in by_users.values())
    assert len(by_users) < len(cells)


def test_a_viewer_cannot_learn_a_hidden_cells_size_through_min_users(demo_ws: Workspace) -> None:
    """Listing cells by their exact size would tell a small cell's size (min_users=5 lists it,
    6 does not): a viewer's min_users is at least the smallest released count."""
    _beauty(demo_ws)
    exact = {c["key"]: c["users"] for c in demo_ws.cubes.show("beauty", describe=0)["cells"]}
    assert any(n < 10 for n in exact.values())
    listed = [
        {
            c["key"]
            for c in demo_ws.cubes.show("beauty", describe=0, min_users=k, caller=VIEWER)["cells"]
        }
        for k in range(1, 11)
    ]
    assert all(keys == listed[0] for keys in listed)
    assert listed[0] == {k for k, n in exact.items() if n >= 10}


def test_a_viewer_is_not_told_of_a_tag_value_few_users_hold(demo_ws: Workspace) -> None:
    """A member named after a rare value would say someone holds it (the catalog folds such
    values away for a viewer): a viewer's tag dimension lists the values enough users hold."""
    usage = {"name": "usage", "members": USAGE}
    demo_ws.cubes.create(
        {"name": "tiers", "dimensions": [usage, {"name": "t", "tag": "value_tier"}]}
    )
    held = {
        v: _size(demo_ws, f'value_tier = "{v}"') for v in ("未购买", "低价值", "中价值", "高价值")
    }
    rare = {v for v, n in held.items() if 0 < n < 10}
    assert rare, held  # the demo has a value fewer than 10 users hold
    exact = demo_ws.cubes.show("tiers", describe=0)["dimensions"]["t"]
    seen = demo_ws.cubes.show("tiers", describe=0, caller=VIEWER)["dimensions"]["t"]
    assert rare <= set(exact) and not rare & set(seen)
    assert set(seen) == {v for v, n in held.items() if n >= 10}


def test_a_member_label_cannot_hold_the_cell_separators(demo_ws: Workspace) -> None:
    bad = {"name": "usage", "members": {"30 or older, men": "age >= 30"}}
    with pytest.raises(InputError, match="no ',' or '='"):
        demo_ws.cubes.create({"name": "bad", "dimensions": [bad, {"name": "c", "tag": "city"}]})
    assert demo_ws.cubes.names() == []
    (demo_ws.root / "cubes").mkdir(exist_ok=True)
    (demo_ws.root / "cubes" / "broken.yaml").write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML") as broken:
        demo_ws.cubes.spec("broken")
    assert broken.value.where.endswith("broken.yaml")


def test_a_cube_of_a_personal_tag_is_refused_to_a_viewer(demo_ws: Workspace) -> None:
    usage = {"name": "usage", "members": USAGE}
    demo_ws.cubes.create({"name": "phones", "dimensions": [usage, {"name": "p", "tag": "phone"}]})
    with pytest.raises(AccessError, match="phone"):
        demo_ws.cubes.show("phones", describe=0, caller=VIEWER)


# -- 6. an interrupted write ----------------------------------------------------------------------
def test_an_interrupted_write_leaves_the_cube_file_as_it_was(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _beauty(demo_ws)
    demo_ws.cubes.need("beauty", LIP_OFTEN, "想要持久不脱色")
    file = demo_ws.root / "cubes" / "beauty.yaml"
    before = file.read_bytes()
    replace = pathlib.Path.replace

    def crash(self: Path, target: Any) -> Any:
        if Path(target).resolve() == file.resolve():
            raise OSError("disk gone")
        return replace(self, target)

    monkeypatch.setattr(pathlib.Path, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        demo_ws.cubes.need("beauty", LIP_OFTEN, "送礼", item="gift_box")
    with pytest.raises(OSError, match="disk gone"):
        demo_ws.cubes.need("beauty", LIP_OFTEN, "想要持久不脱色", remove=True)
    assert file.read_bytes() == before
    monkeypatch.undo()
    assert [n.need for n in demo_ws.cubes.spec("beauty").needs] == ["想要持久不脱色"]
    assert demo_ws.cubes.names() == ["beauty"]
    assert len(demo_ws.cubes.need("beauty", LIP_OFTEN, "送礼")) == 2  # and it works again


# -- 7. the command line --------------------------------------------------------------------------
def test_the_cube_commands_end_to_end(demo_ws: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = ["-w", str(demo_ws.root)]
    file = tmp_path / "needs.yaml"
    file.write_text(BEAUTY_YAML, encoding="utf-8")
    cell = "purchase=lipstick,usage=often"

    created = runner.invoke(app, ["cube", "create", str(file), *ws])
    assert created.exit_code == 0, created.output
    assert "lipstick" in created.stdout and demo_ws.cubes.names() == ["beauty_needs"]
    listed = runner.invoke(app, ["cube", "list", *ws, "-f", "json"])
    assert json.loads(listed.stdout) == [{"name": "beauty_needs"}]

    shown = runner.invoke(
        app,
        ["cube", "show", "beauty_needs", "--levels", "2,3", "--describe", "0", *ws, "-f", "json"],
    )
    assert shown.exit_code == 0, shown.output
    cube = json.loads(shown.stdout)
    assert cube["levels"] == [2, 3] and 0 < len(cube["cells"]) <= 30
    for c in cube["cells"]:
        assert c["users"] == _size(demo_ws, c["rule"]) and c["level"] in (2, 3)
    (target,) = [c for c in cube["cells"] if c["key"] == cell]
    heatmap = tmp_path / "cube.json"
    charted = runner.invoke(
        app, ["cube", "show", "beauty_needs", "--describe", "0", "--chart", str(heatmap), *ws]
    )
    assert charted.exit_code == 0, charted.output
    drawn = json.loads(heatmap.read_text(encoding="utf-8"))["data"]["values"]
    pairs = [c for c in cube["cells"] if set(c["cell"]) == {"purchase", "usage"}]
    assert sorted((d["cell"], d["users"]) for d in drawn) == sorted(
        (c["key"], c["users"]) for c in pairs
    )
    no_pairs = runner.invoke(
        app, ["cube", "show", "beauty_needs", "--levels", "3", "--chart", str(heatmap), *ws]
    )
    assert no_pairs.exit_code == 2 and "include 2 in --levels" in no_pairs.stderr

    need = runner.invoke(
        app,
        ["cube", "need", "beauty_needs", "--cell", cell, "--need", "想要持久不脱色", "--item",
         "lip_liner", *ws, "-f", "json"],
    )  # fmt: skip
    assert need.exit_code == 0, need.output
    assert json.loads(need.stdout) == [{"need": "想要持久不脱色", "item": "lip_liner"}]
    assert demo_ws.cubes.spec("beauty_needs").needs[0].cell == LIP_OFTEN

    saved = runner.invoke(
        app, ["cube", "save", "beauty_needs", "--cell", cell, "--segment", "lo", *ws, "-f", "json"]
    )
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout)["size"] == target["users"] == _size(demo_ws, 'segment("lo")')

    campaign = runner.invoke(
        app,
        ["cube", "campaign", "beauty_needs", "--cell", cell, "--campaign", "lc", *ws, "-f", "json"],
    )
    assert campaign.exit_code == 0, campaign.output
    assert json.loads(campaign.stdout) == {
        "campaign": "lc",
        "state": "draft",
        "audience": target["rule"],
        "variants": "need_1 80%",
        "control": "20%",
    }

    before = _folder(demo_ws)
    bad = runner.invoke(
        app, ["cube", "need", "beauty_needs", "--cell", "purchase", "--need", "x", *ws]
    )
    assert bad.exit_code == 2
    assert "--cell" in bad.stderr and "'purchase' is not dimension=member" in bad.stderr
    assert "Traceback" not in bad.output
    unknown = runner.invoke(app, ["cube", "show", "beauty_need", *ws])
    assert unknown.exit_code == 2 and "did you mean 'beauty_needs'?" in unknown.stderr
    assert _folder(demo_ws) == before
