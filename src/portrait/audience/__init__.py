"""Audiences: rules evaluated to sets of users."""

from portrait.audience.audience import Audience
from portrait.audience.evaluate import UnsupportedLeafError, evaluate_rule

__all__ = ["Audience", "UnsupportedLeafError", "evaluate_rule"]
