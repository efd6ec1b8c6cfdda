"""The rule language: text ⇄ rule model. Pure: no engine, no I/O."""

from portrait.errors import RuleSyntaxError
from portrait.rules.parser import MAX_RULE_LENGTH, MAX_WINDOW_DAYS, parse_rule
from portrait.rules.printer import print_rule

__all__ = ["MAX_RULE_LENGTH", "MAX_WINDOW_DAYS", "RuleSyntaxError", "parse_rule", "print_rule"]
