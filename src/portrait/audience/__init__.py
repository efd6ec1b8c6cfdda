"""Audiences: rules evaluated to sets of users, saved segments, ID lists, exports."""

from portrait.audience.audience import Audience
from portrait.audience.evaluate import Sources, UnsupportedLeafError, evaluate_rule

__all__ = ["Audience", "Sources", "UnsupportedLeafError", "evaluate_rule"]
