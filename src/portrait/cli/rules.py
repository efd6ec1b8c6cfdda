"""``portrait rules``, ``portrait rules recommend`` and ``portrait rules itemsets``:
association rules for cross-sell (关联推荐) over order or event baskets, and the frequent
itemsets they are drawn from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from portrait import charts
from portrait.cli.common import (
    ChartOpt,
    FormatOpt,
    WorkspaceOpt,
    handles_errors,
    open_ws,
    write_chart,
)
from portrait.cli.render import OutputFormat, emit_rows

rules_app = typer.Typer(invoke_without_command=True)  # help: rules_main's docstring
RULE_COLUMNS = [
    "antecedent",
    "consequent",
    "baskets",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
]
MinSupportOpt = Annotated[
    float, typer.Option("--min-support", help="Share of baskets an itemset needs (0 to 1).")
]
MinConfidenceOpt = Annotated[
    float, typer.Option("--min-confidence", help="Share of A's baskets that also hold B.")
]
ItemOpt = Annotated[
    str | None,
    typer.Option(
        "--item",
        help="Column holding the items: an orders column (default items) or an event property.",
    ),
]
BasketOpt = Annotated[
    str,
    typer.Option(
        "--basket",
        help="Baskets: orders (each order), or events:<event> (each user's events of it).",
    ),
]


def _emit_rules(rules: list[dict[str, Any]], fmt: OutputFormat, title: str) -> None:
    """Rules as rows: itemsets as arrays in JSON (joined with | in CSV, with + in the table),
    an infinite conviction as null in JSON (the rule never fails: confidence 1)."""
    from portrait.model.reports import json_rule

    if fmt is OutputFormat.json:
        rows = [json_rule(r) for r in rules]
    elif fmt is OutputFormat.csv:
        rows = rules
    else:
        rows = [
            {
                **r,
                "antecedent": " + ".join(r["antecedent"]),
                "consequent": " + ".join(r["consequent"]),
            }
            for r in rules
        ]
    emit_rows(rows, fmt, title=title, columns=RULE_COLUMNS, percent=["support", "confidence"])


@rules_app.callback()
@handles_errors
def rules_main(
    ctx: typer.Context,
    basket: BasketOpt = "orders",
    item: ItemOpt = None,
    min_support: MinSupportOpt = 0.01,
    min_confidence: MinConfidenceOpt = 0.2,
    top: Annotated[int, typer.Option("--top", help="Rules to show (0: all).", min=0)] = 30,
    chart: ChartOpt = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Association rules for cross-sell (关联推荐).

    The frequent itemsets of the baskets (each order, or each user's events of one name) and
    every rule A → B among them with support, confidence, lift, leverage and conviction;
    strongest lift first. In --format json antecedent and consequent are arrays of items and
    an infinite conviction is null: the rule never fails (its confidence is 1). The chart
    plots every rule found.
    """
    if ctx.invoked_subcommand is not None:
        return
    rules = open_ws(workspace).association_rules(
        min_support=min_support, min_confidence=min_confidence, basket=basket, item=item
    )
    _emit_rules(rules[:top] if top else rules, fmt, "rules")
    write_chart(chart, lambda: charts.rules_chart(rules))


@rules_app.command("recommend")
@handles_errors
def recommend(
    items: Annotated[list[str], typer.Argument(help="Item(s) in the basket.")],
    basket: BasketOpt = "orders",
    item: ItemOpt = None,
    min_support: MinSupportOpt = 0.01,
    min_confidence: MinConfidenceOpt = 0.2,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """What to recommend with these items.

    The association rules whose antecedent is exactly the given items.
    """
    wanted = sorted(items)
    rules = open_ws(workspace).association_rules(
        min_support=min_support, min_confidence=min_confidence, basket=basket, item=item
    )
    _emit_rules([r for r in rules if sorted(r["antecedent"]) == wanted], fmt, "recommend")


@rules_app.command("itemsets")
@handles_errors
def itemsets(
    basket: BasketOpt = "orders",
    item: ItemOpt = None,
    min_support: MinSupportOpt = 0.01,
    max_size: Annotated[
        int, typer.Option("--max-size", help="Most items in an itemset.", min=1, max=8)
    ] = 4,
    min_size: Annotated[
        int, typer.Option("--min-size", help="Fewest items in an itemset shown.", min=1)
    ] = 1,
    top: Annotated[int, typer.Option("--top", help="Itemsets to show (0: all).", min=0)] = 30,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The frequent itemsets the rules are drawn from.

    Every itemset in at least --min-support of the baskets, with the baskets holding it and
    its support; most frequent first. In --format json items are arrays (CSV joins them with
    |, the table with +).
    """
    rows = open_ws(workspace).frequent_itemsets(
        min_support=min_support, basket=basket, item=item, max_size=max_size
    )
    rows = [r for r in rows if r["size"] >= min_size]
    rows = rows[:top] if top else rows
    if fmt is OutputFormat.table:
        rows = [{**r, "items": " + ".join(r["items"])} for r in rows]
    emit_rows(
        rows,
        fmt,
        title="itemsets",
        columns=["items", "size", "baskets", "support"],
        percent=["support"],
    )
