"""Charts of the reports: one Vega-Lite specification per report (``*_chart``), written to
SVG, PNG, self-contained HTML or JSON by :func:`save_chart`, offline."""

from portrait.charts.discovery import (
    cube_chart,
    niche_chart,
    persona_chart,
    ranking_chart,
    silhouette_chart,
)
from portrait.charts.distribution import distribution_chart, overlap_chart
from portrait.charts.experiment import effects_chart
from portrait.charts.output import FORMATS, ChartFontWarning, has_cjk_font, save_chart
from portrait.charts.specs import (
    cross_chart,
    distinctive_chart,
    funnel_chart,
    history_chart,
    insight_chart,
    rfm_chart,
    rules_chart,
)

__all__ = [
    "FORMATS",
    "ChartFontWarning",
    "cross_chart",
    "cube_chart",
    "distinctive_chart",
    "distribution_chart",
    "effects_chart",
    "funnel_chart",
    "has_cjk_font",
    "history_chart",
    "insight_chart",
    "niche_chart",
    "overlap_chart",
    "persona_chart",
    "ranking_chart",
    "rfm_chart",
    "rules_chart",
    "save_chart",
    "silhouette_chart",
]
