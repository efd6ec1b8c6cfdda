"""Audiences: rules evaluated to sets of users, saved segments, ID lists, exports."""

from portrait.audience.audience import Audience
from portrait.audience.evaluate import Sources, evaluate_rule
from portrait.errors import UnsupportedLeafError

__all__ = ["Audience", "Sources", "UnsupportedLeafError", "evaluate_rule"]
