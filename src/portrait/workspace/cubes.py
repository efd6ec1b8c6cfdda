"""``ws.cubes``: multi-level segment intersections (多重交集, :mod:`portrait.model.cubes`).

A cube is a file ``cubes/NAME.yaml`` (dimensions as code, like tags); ``show`` lists every
non-empty 2-, 3- and 4-level intersection with its size, and for the largest cells their
distinctive features and the items their members prefer or association rules recommend;
``need`` attaches an inferred need (text + an item to recommend) to a cell, stored in the
file; a cell becomes a segment (``save``) or a campaign audience with a variant per inferred
need and a blank control (``campaign``: 分组测试 / 空白对照组), so the next effect report
confirms or refutes each need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.errors import InputError, NotFoundError, suggest
from portrait.model.access import Caller
from portrait.model.cubes import CubeSpec, Need

if TYPE_CHECKING:
    from portrait.analysis.intersections import Member
    from portrait.workspace.root import Workspace

CUBES_DIR = "cubes"


def cell_key(cell: Mapping[str, str]) -> str:
    """A cell written as ``dimension=member`` pairs joined by ``,`` (the CLI's ``--cell``)."""
    return ",".join(f"{d}={m}" for d, m in cell.items())


def parse_cell(text: str) -> dict[str, str]:
    """``purchase=lipstick,city=北京`` → ``{"purchase": "lipstick", "city": "北京"}``."""
    cell: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        dimension, sep, member = part.partition("=")
        if not sep or not dimension.strip() or not member.strip():
            raise InputError(
                f"'{part}' is not dimension=member",
                where="--cell",
                hint="purchase=lipstick,city=北京",
            )
        cell[dimension.strip()] = member.strip()
    if not cell:
        raise InputError("name a cell", where="--cell", hint="purchase=lipstick,city=北京")
    return cell


class CubeService:
    def __init__(self, ws: Workspace):
        self._ws = ws

    # -- files -------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return self._ws.layout.root / CUBES_DIR

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.yaml")) if self.folder.is_dir() else []

    def spec(self, name: str) -> CubeSpec:
        """The cube ``name`` as its file defines it."""
        import yaml

        path = self.folder / f"{name}.yaml"
        if not path.is_file():
            raise NotFoundError(
                f"no cube named '{name}'",
                where="cube",
                hint=suggest(name, self.names()) or "make one with: portrait cube create FILE",
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"not valid YAML: {exc}", where=str(path)) from None
        return self._parse(data, str(path))

    @staticmethod
    def _parse(data: Any, where: str) -> CubeSpec:
        from pydantic import ValidationError

        if not isinstance(data, dict):
            raise InputError("a cube is a mapping with name and dimensions", where=where)
        try:
            return CubeSpec.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            place = ".".join(str(p) for p in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InputError(
                f"{place}: {message}" if place else message,
                where=where,
                hint="see docs/discovery.md#segment-intersections",
            ) from None

    def _write(self, spec: CubeSpec) -> None:
        import yaml

        from portrait.store.versions import write_atomic

        self.folder.mkdir(exist_ok=True)
        text = yaml.safe_dump(spec.to_file(), allow_unicode=True, sort_keys=False, width=100)
        write_atomic(self.folder / f"{spec.name}.yaml", text.encode("utf-8"))

    # -- defining ----------------------------------------------------------------------------
    def create(
        self,
        definition: Mapping[str, Any] | str | Path,
        *,
        replace: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Check and store a cube (a mapping, or a YAML/JSON file): every member's rule is
        checked for the caller, segments and tags must exist; nothing is written when any is
        wrong. Returns the cube's dimensions with their members."""
        import yaml

        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "define cubes")
        where = "cube"
        if isinstance(definition, str | Path):
            path = Path(definition)
            if not path.is_file():
                raise NotFoundError(f"no file '{path}'", where="FILE")
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise InputError(f"not valid YAML: {exc}", where=str(path)) from None
            where = str(path)
        else:
            data = dict(definition)
        spec = self._parse(data, where)
        if spec.name in self.names() and not replace:
            raise InputError(
                f"cube '{spec.name}' exists", where="name", hint="--replace replaces it"
            )
        dimensions = self._members(spec, who)
        self._check_needs(spec, dimensions)
        self._write(spec)
        ws.access.record(who, "cube:create", spec.name)
        return {
            "name": spec.name,
            "dimensions": {d: [m.label for m in members] for d, members in dimensions.items()},
        }

    def _members(self, spec: CubeSpec, who: Caller) -> dict[str, list[Member]]:
        """Every dimension's members with their rule and users (checked for ``who``)."""
        from portrait.analysis.intersections import Member
        from portrait.rules import print_rule

        ws = self._ws
        disclosure = ws.access.disclosure
        # under disclosure control a tag's rare values are not listed (as in the catalog): a
        # member named after a value would tell that someone holds it
        rare = disclosure.policy.min_count if disclosure.controlled(who) else 0
        out: dict[str, list[Member]] = {}
        for dimension in spec.dimensions:
            members: list[Member] = []
            if dimension.tag is not None:
                try:  # built, known, not pii
                    ws.insights.comparable_tags([dimension.tag], who)
                except InputError as exc:
                    raise type(exc)(
                        f"dimension '{dimension.name}': {exc.message}",
                        where=f"dimensions.{dimension.name}",
                        hint=exc.hint,
                    ) from None
                for cell in ws.discovery.cells(
                    dimension.tag,
                    max_values=dimension.max_values,
                    other=False,
                    include_missing=False,
                ):
                    if len(cell.members) < rare:
                        continue
                    rule = print_rule(cell.condition)
                    members.append(Member(dimension.name, cell.value, rule, cell.members))
            elif dimension.segments is not None:
                for segment in dimension.segments:
                    if not ws.audiences.is_segment(segment):
                        raise NotFoundError(
                            f"dimension '{dimension.name}': no segment named '{segment}'",
                            where=f"dimensions.{dimension.name}",
                            hint=suggest(segment, ws.segments) or "portrait segment list",
                        )
                    bitmap = ws.audiences.members(segment, who).bitmap
                    members.append(Member(dimension.name, segment, f'segment("{segment}")', bitmap))
            else:
                assert dimension.members is not None
                for label, rule in dimension.members.items():
                    try:
                        checked = ws.audiences.check_rule(rule, who)
                    except InputError as exc:
                        raise InputError(
                            f"dimension '{dimension.name}', member '{label}': {exc.message}",
                            where=f"dimensions.{dimension.name}.{label}",
                            hint=exc.hint,
                        ) from None
                    bitmap = ws.audiences.members(rule, who).bitmap
                    members.append(Member(dimension.name, label, print_rule(checked), bitmap))
            out[dimension.name] = members
        return out

    @staticmethod
    def _check_needs(spec: CubeSpec, dimensions: Mapping[str, Sequence[Member]]) -> None:
        for need in spec.needs:
            _check_cell(need.cell, dimensions)

    # -- reading -----------------------------------------------------------------------------
    def show(
        self,
        name: str,
        *,
        levels: Sequence[int] = (2, 3, 4),
        min_users: int = 1,
        describe: int = 10,
        items_tag: str | None = None,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Every non-empty intersection of ``levels`` dimensions (largest first) with its
        users, share and rule; for the ``describe`` largest, their distinctive features, the
        items over-represented among their members (``items_tag``, default the first
        preference tag over orders) and what association rules recommend with the first of
        them; the needs attached to each cell. Sizes are released for the caller."""
        from portrait.access import releases
        from portrait.analysis.intersections import intersections

        ws = self._ws
        who = ws.who(caller)
        spec = self.spec(name)
        dimensions = self._members(spec, who)
        disclosure = ws.access.disclosure
        if disclosure.controlled(who):  # a cell's presence must not tell its exact size
            min_users = max(min_users, disclosure.policy.min_count)
        found = intersections(list(dimensions.values()), levels=levels, min_users=min_users)
        population = ws.selector().profile.population
        sizes = releases.member_sets(ws.access.disclosure, who, "cube", [u for _, u in found])
        cells: list[dict[str, Any]] = []
        for (members, _), size in zip(found, sizes, strict=True):
            chosen = {m.dimension: m.label for m in members}
            cells.append(
                {
                    "cell": chosen,
                    "key": cell_key(chosen),
                    "level": len(members),
                    "users": size,
                    "share": size / population if size is not None else None,
                    "rule": _and([m.rule for m in members]),
                    "needs": [n.model_dump() for n in spec.needs if n.cell == chosen],
                }
            )
        cells.sort(key=lambda c: (-(c["users"] or 0), c["key"]))
        items = items_tag if items_tag is not None else self._items_tag()
        for row in cells[:describe]:
            if row["users"] is None:
                continue
            row["distinctive"] = ws.insights.distinctive(row["rule"], top=3, caller=who)
            row.update(self._items(row["rule"], items, who))
        return {
            "name": spec.name,
            "title": spec.title,
            "dimensions": {d: [m.label for m in ms] for d, ms in dimensions.items()},
            "levels": sorted(set(levels)),
            "cells": cells,
            "items_tag": items,
            "privacy": ws.access.privacy(who),
        }

    def _items_tag(self) -> str | None:
        from portrait.model.tags import PreferenceTag

        definitions = self._ws.catalog.tags.definitions
        built = self._ws.selector().profile.tags
        for name in definitions:
            tag = definitions[name]
            if isinstance(tag, PreferenceTag) and tag.from_ == "orders" and name in built:
                return name
        return None

    def _items(self, rule: str, items: str | None, who: Caller) -> dict[str, Any]:
        """The items over-represented in a cell (significant, TGI > 100) and what the
        association rules recommend with the first."""
        if items is None:
            return {"items": [], "recommended": []}
        report = self._ws.insights.insight(rule, tags=[items], caller=who)
        preferred = [{"item": r["value"], "tgi": r["tgi"]} for r in report.distinctive(3)]
        recommended: list[str] = []
        if preferred:
            try:
                rules = self._ws.insights.recommendations(preferred[0]["item"], caller=who)
            except (NotFoundError, InputError):
                rules = []
            for r in rules:
                for item in r["consequent"]:
                    if item not in recommended and item != preferred[0]["item"]:
                        recommended.append(item)
        return {"items": preferred, "recommended": recommended[:3]}

    def describe(
        self,
        name: str,
        cell: Mapping[str, str],
        *,
        items_tag: str | None = None,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """One cell's distinctive features, the items over-represented among its members and
        what association rules recommend with the first (what :meth:`show` gives its
        ``describe`` largest cells), for the caller."""
        ws = self._ws
        who = ws.who(caller)
        rule = self.cell_rule(name, cell, who)
        items = items_tag if items_tag is not None else self._items_tag()
        return {
            "cell": dict(cell),
            "key": cell_key(cell),
            "rule": rule,
            "distinctive": ws.insights.distinctive(rule, top=3, caller=who),
            **self._items(rule, items, who),
        }

    # -- acting on a cell --------------------------------------------------------------------
    def need(
        self,
        name: str,
        cell: Mapping[str, str],
        need: str,
        *,
        item: str = "",
        remove: bool = False,
        caller: Caller | None = None,
    ) -> list[dict[str, str]]:
        """Attach an inferred need (and the item to recommend) to a cell, or ``remove`` it;
        stored in the cube's file. Returns the cell's needs."""
        ws = self._ws
        who = ws.access.permit(caller, "segments:write", "attach needs to cubes")
        spec = self.spec(name)
        _check_cell(dict(cell), self._members(spec, who))
        text = need.strip()
        if not text:
            raise InputError("say what the need is", where="--need")
        kept = [n for n in spec.needs if not (n.cell == dict(cell) and n.need == text)]
        if not remove:
            kept.append(Need(cell=dict(cell), need=text, item=item.strip()))
        elif len(kept) == len(spec.needs):
            raise NotFoundError(f"the cell has no need '{text}'", where="--need")
        updated = spec.model_copy(update={"needs": kept})
        self._write(CubeSpec.model_validate(updated.model_dump()))
        ws.access.record(who, "cube:need", f"{name}:{cell_key(cell)}")
        return [n.model_dump() for n in kept if n.cell == dict(cell)]

    def cell_rule(self, name: str, cell: Mapping[str, str], caller: Caller | None = None) -> str:
        """The rule selecting a cell's users."""
        ws = self._ws
        spec = self.spec(name)
        dimensions = self._members(spec, ws.who(caller))
        _check_cell(dict(cell), dimensions)
        rules = [
            next(m.rule for m in dimensions[d] if m.label == label) for d, label in cell.items()
        ]
        return _and(rules)

    def save(
        self,
        name: str,
        cell: Mapping[str, str],
        segment: str,
        *,
        replace: bool = False,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """Save a cell as a dynamic segment."""
        rule = self.cell_rule(name, cell, caller)
        return self._ws.audiences.segments.create(
            segment,
            rule,
            description=f"cube {name}: {cell_key(cell)}",
            replace=replace,
            caller=caller,
        )

    def campaign(
        self,
        name: str,
        cell: Mapping[str, str],
        campaign: str,
        *,
        channel: str = "file",
        control: int = 20,
        caller: Caller | None = None,
    ) -> dict[str, Any]:
        """A draft campaign to the cell: one variant per need attached to it (its message
        names the need and the item), equal weights, and a blank control group of
        ``control`` percent that receives nothing, so the effect report tests each need."""
        spec = self.spec(name)
        needs = [n for n in spec.needs if n.cell == dict(cell)]
        if not needs:
            raise InputError(
                f"the cell {cell_key(cell)} has no inferred need to test",
                where="--cell",
                hint=f"attach one first: portrait cube need {name} --cell … --need …",
            )
        if not 5 <= control <= 50:
            raise InputError("--control must be between 5 and 50 percent", where="--control")
        rule = self.cell_rule(name, cell, caller)
        weights = _split(100 - control, len(needs))
        variants = [
            {
                "name": f"need_{i + 1}",
                "weight": weight,
                "template": _message(need),
            }
            for i, (need, weight) in enumerate(zip(needs, weights, strict=True))
        ]
        definition = {
            "name": campaign,
            "description": f"cube {name}: {cell_key(cell)}; needs: "
            + "; ".join(n.need for n in needs),
            "audience": rule,
            "channel": channel,
            "control": control,
            "variants": variants,
        }
        return self._ws.campaigns.create(definition, caller=caller)


def _check_cell(cell: Mapping[str, str], dimensions: Mapping[str, Sequence[Member]]) -> None:
    if not 1 <= len(cell) <= 4:
        raise InputError("a cell names 1 to 4 dimensions", where="--cell")
    for dimension, label in cell.items():
        if dimension not in dimensions:
            raise NotFoundError(
                f"the cube has no dimension '{dimension}'",
                where="--cell",
                hint=suggest(dimension, dimensions) or "one of " + ", ".join(dimensions),
            )
        labels = [m.label for m in dimensions[dimension]]
        if label not in labels:
            raise NotFoundError(
                f"dimension '{dimension}' has no member '{label}'",
                where="--cell",
                hint=suggest(label, labels) or "one of " + ", ".join(labels[:12]),
            )


def _and(rules: Sequence[str]) -> str:
    from portrait.model.rules import And
    from portrait.rules import parse_rule, print_rule

    parsed = [parse_rule(r) for r in rules]
    items = [i for p in parsed for i in (p.items if isinstance(p, And) else [p])]
    return print_rule(items[0] if len(items) == 1 else And(items=items))


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _message(need: Need) -> str:
    """A variant's message: the need, and the item when there is one (plain text: braces are
    escaped so Jinja prints them as they are)."""
    import re

    text = f"{need.need}：为你推荐 {need.item}" if need.item else need.need
    return re.sub(r"[{}]", lambda brace: "{{ '" + brace.group() + "' }}", text)
