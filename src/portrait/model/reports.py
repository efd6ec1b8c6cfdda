"""Report rows as the surfaces hand them on: forms every output can carry."""

from __future__ import annotations

import math
from typing import Any


def json_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """``rule`` as JSON can carry it: antecedent and consequent stay lists of items, and an
    infinite conviction becomes ``None`` (``null``), meaning the rule never fails: every
    basket holding A also holds B (confidence 1). JSON has no infinity."""
    conviction = rule["conviction"]
    return {**rule, "conviction": None if math.isinf(conviction) else conviction}
