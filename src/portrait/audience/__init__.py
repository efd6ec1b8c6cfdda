"""Audiences: rules evaluated to sets of users."""

from portrait.audience.evaluate import UnsupportedLeafError, evaluate_rule

__all__ = ["UnsupportedLeafError", "evaluate_rule"]
