"""Discovery commands: ``portrait rank`` (feature ranking, 选特征), ``portrait niche`` (niche
groups from tag combinations, 利基客群) and ``portrait subgroups`` (subgroup discovery)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from portrait import charts
from portrait.cli.analysis import BaselineOpt, MinCountOpt, TargetArg
from portrait.cli.common import (
    ChartOpt,
    FormatOpt,
    WorkspaceOpt,
    handles_errors,
    open_ws,
    write_chart,
)
from portrait.cli.render import OutputFormat, emit_record, emit_rows, output_console

RANK_COLUMNS = [
    "tag",
    "title",
    "kind",
    "mutual_info",
    "cramers_v",
    "association",
    "coverage",
    "balance",
    "over_represented",
    "circular",
]


def _names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    direction = row.get("direction")
    over = ""
    if direction and "tgi" in direction:
        over = f"{direction['label']} (TGI {direction['tgi']:.0f})"
    elif direction:
        over = f"{direction['label']} (highest)"
    if row.get("best_value") and row["kind"] == "multi":
        over = over or str(row["best_value"])
    return {**row, "over_represented": over}


@handles_errors
def rank(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A saved segment's name or a rule (or give --metric).", show_default=False
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric", help="Rank against a numeric tag's values instead of an audience."
        ),
    ] = None,
    baseline: BaselineOpt = None,
    tags: Annotated[
        str | None,
        typer.Option("--tags", "-t", help="Tags to rank (comma-separated; default all)."),
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            "--by", help="mutual_info, cramers_v, association (|ρ| or |r|), coverage or balance."
        ),
    ] = "mutual_info",
    include_circular: Annotated[
        bool,
        typer.Option(
            "--include-circular",
            help="Also rank tags computed from the target's own conditions (flagged).",
        ),
    ] = False,
    top: Annotated[int, typer.Option("--top", help="Rows to show (0: all).", min=0)] = 20,
    min_count: MinCountOpt = 30,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Rank tags by how much they tell an audience apart (选特征).

    For every tag: mutual information and Cramér's V with membership, Spearman's ρ (and the
    point-biserial r) for numbers, coverage and balance, and the most over-represented value.
    Tags computed from the same data as the target's own conditions (the tags its rule reads,
    buckets and derived tags of them, metrics over the events its behaviour conditions count)
    are left out and listed, unless --include-circular.
    """
    if (target is None) == (metric is None):
        raise typer.BadParameter("give a TARGET audience or --metric TAG (one of them)")
    ws = open_ws(workspace)
    if metric is not None:
        ranking = ws.discovery.rank_metric(
            metric, baseline=baseline, tags=_names(tags), by=by, include_circular=include_circular
        )
        target = f"metric {metric}"
    else:
        assert target is not None
        ranking = ws.discovery.rank(
            target,
            baseline=baseline,
            tags=_names(tags),
            by=by,
            include_circular=include_circular,
            min_count=min_count,
        )
    if fmt is OutputFormat.json:
        emit_record(ranking.to_dict(top), fmt)
        return
    rows = [_shown(r) for r in (ranking.rows[:top] if top else ranking.rows)]
    console = output_console()
    if fmt is OutputFormat.table:
        who = (
            f"{ranking.universe_size or 0:,} users with a value"
            if ranking.metric
            else f"{ranking.target_size or 0:,} of {ranking.universe_size or 0:,} users"
        )
        console.print(
            f"{target}: {who} ({ranking.universe}), ranked by {ranking.by}", highlight=False
        )
    emit_rows(rows, fmt, title="rank", columns=RANK_COLUMNS, percent=["coverage"])
    if fmt is OutputFormat.table and ranking.left_out:
        why: dict[str, list[str]] = {}
        for tag, reason in sorted(ranking.left_out.items()):
            why.setdefault(reason, []).append(tag)
        console.print("left out as circular (--include-circular ranks them):", highlight=False)
        for reason, names in why.items():
            console.print(f"  {', '.join(names)}: {reason}", highlight=False)
    write_chart(
        chart,
        lambda: charts.ranking_chart(
            rows, by=ranking.by, title=f"Feature ranking: {target}", subtitle=ranking.universe
        ),
    )


NICHE_COLUMNS = ["label", "users", "share", "metric", "lift", "p_adjusted", "highlight"]
GROUP_COLUMNS = ["group", "cells", "users", "share", "metric", "lift", "rule"]


@handles_errors
def niche(
    tags: Annotated[
        str | None,
        typer.Option(
            "--tags", "-t", help="2–4 tags to combine (default: the target's top-ranked 3)."
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Measure each cell by the rate of this segment or rule."),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Measure each cell by the mean of this numeric tag."),
    ] = None,
    baseline: BaselineOpt = None,
    max_values: Annotated[
        int, typer.Option("--max-values", help="Values per tag; the rest is one cell 'other'.")
    ] = 12,
    groups: Annotated[int, typer.Option("--groups", help="Merge the cells into this many.")] = 8,
    highlight_share: Annotated[
        float, typer.Option("--highlight-share", help="A highlight cell holds at most this share.")
    ] = 0.05,
    highlight_lift: Annotated[
        float, typer.Option("--highlight-lift", help="… and has at least this lift.")
    ] = 1.5,
    top: Annotated[int, typer.Option("--top", help="Cells to show (0: all).", min=0)] = 20,
    save_groups: Annotated[
        str | None,
        typer.Option("--save-groups", help="Save every group as a segment PREFIX_1, PREFIX_2, …"),
    ] = None,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Niche groups from tag combinations (利基客群).

    Every non-empty combination of the tags' values as a cell: users, share, the target's rate
    (or the metric's mean), lift against the whole, Benjamini–Hochberg corrected p-value, and
    the highlight cells (small share, large lift). Then the cells merged bottom-up (Ward) into
    --groups groups, each with the rule that selects it: save one with 'portrait segment create
    NAME RULE'.
    """
    ws = open_ws(workspace)
    cube = ws.discovery.niche(
        _names(tags),
        target=target,
        metric=metric,
        baseline=baseline,
        max_values=max_values,
        groups=groups,
        highlight_share=highlight_share,
        highlight_lift=highlight_lift,
    )
    if fmt is OutputFormat.json:
        emit_record(cube.to_dict(top), fmt)
        return
    console = output_console()
    measure = f"rate of {cube.metric}" if cube.kind == "rate" else f"mean of {cube.metric}"
    if fmt is OutputFormat.table:
        overall = "—" if cube.overall is None else f"{cube.overall:.4g}"
        console.print(
            f"{' × '.join(cube.tags)}: {len(cube.cells):,} cells over {cube.universe_size:,} "
            f"users; {measure}: {overall} overall",
            highlight=False,
        )
    cells = cube.cells[:top] if top else cube.cells
    emit_rows(cells, fmt, title="cells", columns=NICHE_COLUMNS, percent=["share"])
    if fmt is OutputFormat.table:
        rows = [{"group": i + 1, **g} for i, g in enumerate(cube.groups)]
        emit_rows(rows, fmt, title="groups", columns=GROUP_COLUMNS, percent=["share"])
    if save_groups:
        saved = ws.discovery.save_groups(cube, save_groups)
        if fmt is OutputFormat.table:
            emit_rows(saved, fmt, title="segments saved", columns=["name", "size", "rule"])
    write_chart(chart, lambda: charts.niche_chart(cube.to_dict(), title=f"Niche groups: {measure}"))


SUBGROUP_COLUMNS = ["rule", "size", "coverage", "precision", "recall", "lift", "p_adjusted"]


@handles_errors
def subgroups(
    target: TargetArg,
    baseline: BaselineOpt = None,
    tags: Annotated[
        str | None, typer.Option("--tags", "-t", help="Tags to use (comma-separated; default all).")
    ] = None,
    depth: Annotated[int, typer.Option("--depth", help="Conditions per subgroup, at most.")] = 3,
    beam: Annotated[int, typer.Option("--beam", help="Beam width of the search.")] = 20,
    top: Annotated[int, typer.Option("--top", help="Subgroups to report.")] = 10,
    min_support: Annotated[
        float,
        typer.Option(
            "--min-support", help="Smallest subgroup: a share (< 1) or a number of users."
        ),
    ] = 0.01,
    quality: Annotated[
        str, typer.Option("--quality", help="wracc (favours large) or lift (Klösgen, sharper).")
    ] = "wracc",
    max_values: Annotated[int, typer.Option("--max-values", help="Values per tag tried.")] = 12,
    include_circular: Annotated[
        bool,
        typer.Option("--include-circular", help="Also use tags computed from the target's data."),
    ] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The readable rules that best describe an audience (subgroups).

    Beam search over conjunctions of tag conditions (values, bins of numbers, missing),
    ranked by WRAcc = p(S)·(p(T|S) − p(T)) or Klösgen's lift measure, with a minimum support;
    each with its coverage, precision, recall, lift and Benjamini–Hochberg corrected p-value.
    """
    found = open_ws(workspace).discovery.subgroups(
        target,
        baseline=baseline,
        tags=_names(tags),
        depth=depth,
        beam=beam,
        top=top,
        min_support=min_support,
        quality=quality,
        max_values=max_values,
        include_circular=include_circular,
    )
    if fmt is OutputFormat.json:
        emit_record(found, fmt)
        return
    if fmt is OutputFormat.table:
        output_console().print(
            f"{target}: {found['target_size'] or 0:,} of {found['universe_size'] or 0:,} users; "
            f"best by {found['quality']}",
            highlight=False,
        )
    emit_rows(
        found["rows"],
        fmt,
        title="subgroups",
        columns=SUBGROUP_COLUMNS,
        percent=["coverage", "precision", "recall"],
    )


persona_app = typer.Typer(
    help="Clustering personas (聚类画像): fit, cards, names, segments.",
    no_args_is_help=True,
)


def _k_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a range such as 2-10") from None


@persona_app.command("fit")
@handles_errors
def persona_fit(
    name: Annotated[str, typer.Argument(help="The persona tag to write (e.g. lifestyle_persona).")],
    features: Annotated[
        str | None, typer.Option("--features", help="Tags to cluster on (comma-separated).")
    ] = None,
    features_for: Annotated[
        str | None,
        typer.Option(
            "--features-for",
            help="Or let the feature ranking of this audience propose them.",
        ),
    ] = None,
    feature_count: Annotated[
        int, typer.Option("--feature-count", help="How many --features-for proposes.")
    ] = 5,
    k: Annotated[
        int | None, typer.Option("--k", help="Number of personas (default: best silhouette).")
    ] = None,
    k_range: Annotated[
        str, typer.Option("--k-range", help="The k tried when --k is not given.")
    ] = "2-10",
    sample: Annotated[int, typer.Option("--sample", help="Users the model is fitted on.")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample and k-means.")] = 0,
    title: Annotated[str, typer.Option("--title", help="The tag's title.")] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Fit an existing persona tag again.")
    ] = False,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Cluster users into personas, written as a tag (kind: persona).

    Users are sampled, their features standardised (numbers) or one-hot encoded (categories,
    multi-valued tags), clustered by k-means, k chosen by silhouette unless given; stability is
    the mean Jaccard of matched clusters over bootstrap refits (below 0.8: unstable). Then
    'portrait build' gives every user a persona P1 (the largest in the sample) … Pk.
    """
    ws = open_ws(workspace)
    names = _names(features) or []
    if features_for is not None:
        if names:
            raise typer.BadParameter("give --features or --features-for, not both")
        names = ws.personas.propose(features_for, count=feature_count)
        if fmt is OutputFormat.table:
            output_console().print(f"features proposed: {', '.join(names)}", highlight=False)
    result = ws.personas.fit(
        name,
        names,
        k=k,
        k_range=_k_range(k_range),
        sample=sample,
        seed=seed,
        title=title,
        replace=replace,
    )
    if fmt is OutputFormat.json:
        emit_record(result, fmt)
    else:
        console = output_console()
        how = "chosen by silhouette" if result["chosen"] else "given"
        console.print(
            f"persona tag '{name}': k = {result['k']} ({how}) on {result['sample']:,} users; "
            f"stability {result['stability']:.3f}"
            + ("" if result["stable"] else " — UNSTABLE (below 0.8): try another k or features"),
            highlight=False,
        )
        rows = [{"k": k_, "silhouette": v} for k_, v in result["silhouette"].items()]
        emit_rows(rows, fmt, title="silhouette")
        shares = [{"persona": p, "share": s} for p, s in result["shares"].items()]
        emit_rows(shares, fmt, title="sample shares", percent=["share"])
        if fmt is OutputFormat.table:
            console.print(f"next: portrait build, then portrait persona show {name}")
    write_chart(
        chart, lambda: charts.silhouette_chart(result["silhouette"], chosen=result["k"], title=name)
    )


@persona_app.command("show")
@handles_errors
def persona_show(
    name: Annotated[str, typer.Argument(help="A persona tag.")],
    top: Annotated[int, typer.Option("--top", help="Distinctive values per persona.")] = 5,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The persona cards: size, share, distinctive values (TGI), an approximating rule with its
    precision and coverage, name and description."""
    cards = open_ws(workspace).personas.show(name, top=top)
    if fmt is OutputFormat.json:
        emit_record(cards, fmt)
    else:
        rows = []
        for card in cards["personas"]:
            traits = "; ".join(
                f"{d['tag']} {d.get('label', d['value'])} (TGI {d['tgi']:.0f}"
                + (
                    f", 95% {d['tgi_low']:.0f}–{d['tgi_high']:.0f}"
                    if d.get("tgi_low") is not None and d.get("tgi_high") is not None
                    else ""
                )
                + ")"
                for d in card["distinctive"]
                if d.get("tgi") is not None
            )
            approx = card["approximation"]
            rows.append(
                {
                    "persona": card["persona"],
                    "name": card["name"],
                    "size": card["size"],
                    "share": card["share"],
                    "distinctive": traits,
                    "rule": approx["rule"] or "(everyone)",
                    "precision": approx["precision"],
                    "coverage": approx["coverage"],
                }
            )
        if fmt is OutputFormat.table:
            output_console().print(
                f"{name}: {cards['k']} personas on {', '.join(cards['features'])}; fitted on "
                f"profile {cards['fitted_on']}; stability {cards['stability'] or 0:.3f}",
                highlight=False,
            )
        emit_rows(rows, fmt, title="personas", percent=["share", "precision", "coverage"])
    write_chart(chart, lambda: charts.persona_chart(cards))


@persona_app.command("name")
@handles_errors
def persona_name(
    name: Annotated[str, typer.Argument(help="A persona tag.")],
    persona: Annotated[str, typer.Argument(help="P1 … Pk.")],
    display_name: Annotated[str | None, typer.Option("--name", help="Its name.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="What it is, for its card.")
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Give a persona a name and a description (its value in rules stays P1 …)."""
    label = open_ws(workspace).personas.describe(
        name, persona, display_name=display_name, description=description
    )
    emit_record({"persona": persona, **label}, fmt)


@persona_app.command("save")
@handles_errors
def persona_save(
    name: Annotated[str, typer.Argument(help="A persona tag.")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace the segments.")] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Save one dynamic segment per persona: NAME_p1 … (rule NAME = "P1")."""
    saved = open_ws(workspace).personas.save(name, replace=replace)
    emit_rows(saved, fmt, title="segments", columns=["name", "rule", "size", "description"])


cube_app = typer.Typer(
    help="Multi-level segment intersections (多重交集) with inferred needs.",
    no_args_is_help=True,
)
CellOpt = Annotated[
    str,
    typer.Option(
        "--cell", help="The cell: dimension=member pairs, e.g. purchase=lipstick,city=北京."
    ),
]


def _cell(text: str) -> dict[str, str]:
    from portrait.workspace.cubes import parse_cell

    return parse_cell(text)


@cube_app.command("create")
@handles_errors
def cube_create(
    file: Annotated[str, typer.Argument(help="The cube's YAML or JSON file.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a cube of that name.")
    ] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Check a cube definition and store it as cubes/NAME.yaml."""
    result = open_ws(workspace).cubes.create(file, replace=replace)
    if fmt is OutputFormat.json:
        emit_record(result, fmt)
        return
    rows = [{"dimension": d, "members": ", ".join(m)} for d, m in result["dimensions"].items()]
    emit_rows(rows, fmt, title=f"cube {result['name']}")


@cube_app.command("list")
@handles_errors
def cube_list(workspace: WorkspaceOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """The cubes of the workspace."""
    emit_rows([{"name": n} for n in open_ws(workspace).cubes.names()], fmt, title="cubes")


CUBE_COLUMNS = ["key", "level", "users", "share", "traits", "items", "recommended", "needs"]


@cube_app.command("show")
@handles_errors
def cube_show(
    name: Annotated[str, typer.Argument(help="A cube.")],
    levels: Annotated[str, typer.Option("--levels", help="Levels, e.g. 2,3,4.")] = "2,3,4",
    min_users: Annotated[int, typer.Option("--min-users", help="Smallest cell shown.")] = 1,
    describe: Annotated[
        int, typer.Option("--describe", help="Describe this many of the largest cells.")
    ] = 10,
    items_tag: Annotated[
        str | None, typer.Option("--items-tag", help="The tag of preferred items.")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Cells to show (0: all).", min=0)] = 30,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Every non-empty 2-, 3- and 4-level intersection, largest first; the largest described
    by their distinctive features and the items their members prefer or are recommended.
    --chart draws the first two dimensions' intersections as a heatmap."""
    try:
        chosen = [int(v) for v in levels.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"'{levels}' is not a list of levels such as 2,3") from None
    if chart is not None and 2 not in chosen:
        raise typer.BadParameter("--chart draws the 2-level cells: include 2 in --levels")
    cube = open_ws(workspace).cubes.show(
        name, levels=chosen, min_users=min_users, describe=describe, items_tag=items_tag
    )
    write_chart(chart, lambda: charts.cube_chart(cube))
    if fmt is OutputFormat.json:
        emit_record({**cube, "cells": cube["cells"][:top] if top else cube["cells"]}, fmt)
        return
    rows = []
    for c in cube["cells"][:top] if top else cube["cells"]:
        rows.append(
            {
                **c,
                "traits": "; ".join(f"{d['tag']} {d['label']}" for d in c.get("distinctive", [])),
                "items": ", ".join(i["item"] for i in c.get("items", [])),
                "recommended": ", ".join(c.get("recommended", [])),
                "needs": "; ".join(n["need"] for n in c["needs"]),
            }
        )
    if fmt is OutputFormat.table:
        output_console().print(
            f"cube {cube['name']}: {len(cube['cells']):,} cells (levels "
            f"{', '.join(map(str, cube['levels']))})",
            highlight=False,
        )
    emit_rows(rows, fmt, title="cells", columns=CUBE_COLUMNS, percent=["share"])


@cube_app.command("need")
@handles_errors
def cube_need(
    name: Annotated[str, typer.Argument(help="A cube.")],
    cell: CellOpt,
    need: Annotated[str, typer.Option("--need", help="The need inferred for the cell.")],
    item: Annotated[str, typer.Option("--item", help="The item to recommend for it.")] = "",
    remove: Annotated[bool, typer.Option("--remove", help="Remove this need.")] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Attach an inferred need (and an item to recommend) to a cell, stored with the cube."""
    needs = open_ws(workspace).cubes.need(name, _cell(cell), need, item=item, remove=remove)
    emit_rows(needs, fmt, title="needs", columns=["need", "item"])


@cube_app.command("save")
@handles_errors
def cube_save(
    name: Annotated[str, typer.Argument(help="A cube.")],
    cell: CellOpt,
    segment: Annotated[str, typer.Option("--segment", help="The segment to save it as.")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace that segment.")] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Save a cell as a dynamic segment."""
    info = open_ws(workspace).cubes.save(name, _cell(cell), segment, replace=replace)
    emit_record(info, fmt)


@cube_app.command("campaign")
@handles_errors
def cube_campaign(
    name: Annotated[str, typer.Argument(help="A cube.")],
    cell: CellOpt,
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign to create.")],
    channel: Annotated[str, typer.Option("--channel", help="Its channel.")] = "file",
    control: Annotated[
        int, typer.Option("--control", help="Percent in the blank control group.")
    ] = 20,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """A draft campaign to a cell: a variant per inferred need and a blank control group."""
    info = open_ws(workspace).cubes.campaign(
        name, _cell(cell), campaign, channel=channel, control=control
    )
    variants = ", ".join(f"{v['name']} {v['weight']:g}%" for v in info["spec"]["variants"])
    emit_record(
        {
            "campaign": info["name"],
            "state": info["state"],
            "audience": info["spec"]["audience"],
            "variants": variants,
            "control": f"{info['spec']['control']:g}%",
        },
        fmt,
    )
