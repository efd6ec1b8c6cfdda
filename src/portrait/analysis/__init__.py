"""Understanding audiences: insight (TGI), distinctive features, cross-business analysis."""

from portrait.analysis.counting import tag_counts
from portrait.analysis.cross import cross_matrix, pair_metrics
from portrait.analysis.insight import InsightReport, insight, ranked

__all__ = ["InsightReport", "cross_matrix", "insight", "pair_metrics", "ranked", "tag_counts"]
