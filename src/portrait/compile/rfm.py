"""The ``rfm`` kind: recency, frequency and monetary scores over orders, and the 8 segments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlglot import exp

from portrait.compile.conditions import where_predicate
from portrait.compile.parts import TAG_TABLE_KEY, BuildContext, SqlPart, TagRelation
from portrait.compile.windows import window_predicate
from portrait.model.tags import RFM_SEGMENTS, RfmTag


def rfm_query(tag: RfmTag, as_of: dt.date) -> exp.Select:
    """``(user_id, <tag>)`` for one RFM column; users without orders in the window have none."""
    column = "segment" if tag.score == "segment" else tag.score
    scores = rfm_scores_query(tag, as_of)
    return exp.select(
        exp.column(TAG_TABLE_KEY), exp.alias_(exp.column(column), tag.name, quoted=True)
    ).from_(exp.Subquery(this=scores, alias=exp.TableAlias(this=exp.to_identifier("rfm"))))


def rfm_scores_query(tag: RfmTag, as_of: dt.date) -> exp.Select:
    """Per user with orders in the window of ``tag``: ``recency`` (days from the last order to
    the as-of date), ``frequency`` (orders), ``monetary`` (amount), the scores ``r``, ``f``,
    ``m`` and the ``segment`` (the tag's ``score`` is not used).

    Score s of a value among n users = 1 + floor(scores × (rank − 1) / n), rank ascending in
    "better" order (recency descending: the most recent rank last), ties sharing the lower
    rank, so equal values get equal scores. A segment letter is H when the score is strictly
    above the mean score of the scored users.
    """
    conditions = [window_predicate(tag.window_days, as_of)]
    predicate = where_predicate(dict(tag.where), tag.name)
    if predicate is not None:
        conditions.append(predicate)
    as_of_date = exp.cast(exp.Literal.string(as_of.isoformat()), exp.DataType.Type.DATE)
    recency = exp.DateDiff(
        this=as_of_date,
        expression=exp.cast(exp.Max(this=exp.column("ts")), exp.DataType.Type.DATE),
        unit=exp.var("DAY"),
    )
    base = (
        exp.select(
            exp.column(TAG_TABLE_KEY),
            exp.alias_(recency, "recency"),
            exp.alias_(exp.Count(this=exp.Star()), "frequency"),
            exp.alias_(exp.func("coalesce", exp.Sum(this=exp.column("amount")), 0), "monetary"),
        )
        .from_(tag.from_)
        .where(exp.and_(*conditions))
        .group_by(exp.column(TAG_TABLE_KEY))
    )

    def score(column: str, descending: bool) -> exp.Expr:
        order = exp.Order(expressions=[exp.Ordered(this=exp.column(column), desc=descending)])
        rank = exp.Window(this=exp.func("rank"), order=order)
        total = exp.Window(this=exp.Count(this=exp.Star()))
        value = exp.Add(
            this=exp.Literal.number(1),
            expression=exp.Floor(
                this=exp.Div(
                    this=exp.paren(
                        exp.Mul(
                            this=exp.Literal.number(tag.scores),
                            expression=exp.paren(
                                exp.Sub(this=rank, expression=exp.Literal.number(1))
                            ),
                        )
                    ),
                    expression=total,
                )
            ),
        )
        return exp.cast(value, exp.DataType.Type.INT)

    measures = [exp.column(c) for c in ("recency", "frequency", "monetary")]
    scored = exp.select(
        exp.column(TAG_TABLE_KEY),
        *measures,
        exp.alias_(score("recency", True), "r"),
        exp.alias_(score("frequency", False), "f"),
        exp.alias_(score("monetary", False), "m"),
    ).from_(exp.Subquery(this=base, alias=exp.TableAlias(this=exp.to_identifier("base"))))

    def letter(column: str) -> exp.Expr:
        mean = exp.Window(this=exp.Avg(this=exp.column(column)))
        return (
            exp.Case()
            .when(exp.GT(this=exp.column(column), expression=mean), exp.Literal.string("H"))
            .else_(exp.Literal.string("L"))
        )

    key = exp.DPipe(
        this=exp.DPipe(this=letter("r"), expression=letter("f")), expression=letter("m")
    )
    case = exp.Case()
    for code, label in RFM_SEGMENTS.items():
        case = case.when(
            exp.EQ(this=key.copy(), expression=exp.Literal.string(code)),
            exp.Literal.string(label),
        )
    return exp.select(
        exp.column(TAG_TABLE_KEY),
        *(exp.column(c) for c in ("recency", "frequency", "monetary", "r", "f", "m")),
        exp.alias_(case, "segment"),
    ).from_(exp.Subquery(this=scored, alias=exp.TableAlias(this=exp.to_identifier("scored"))))


def rfm_parts(tags: Sequence[RfmTag], context: BuildContext) -> list[SqlPart]:
    """A relation of its own per RFM tag."""
    return [
        TagRelation(key=tag.name, shared=False, query=rfm_query(tag, context.as_of), tags=(tag,))
        for tag in tags
    ]
