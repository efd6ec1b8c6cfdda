"""Understanding audiences: insight (TGI) and distinctive features."""

from portrait.analysis.insight import InsightReport, insight, ranked, tag_counts

__all__ = ["InsightReport", "insight", "ranked", "tag_counts"]
