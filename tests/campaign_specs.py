"""Campaign specifications the tests share."""

from __future__ import annotations

from typing import Any


def ab_test(
    name: str,
    audience: str,
    channel: str,
    *,
    a: str = "{{ city }}的朋友，秋季 8 折",
    b: str = "Hi {{ user_id }}, {{ age_band }} 专属礼包",
    **more: Any,
) -> dict[str, Any]:
    """An A/B test: variants A and B (templates ``a``, ``b``) at 45% each, a 10% control
    group; ``more`` adds or replaces fields."""
    return {
        "name": name,
        "audience": audience,
        "channel": channel,
        "control": 10,
        "variants": [
            {"name": "A", "weight": 45, "template": a},
            {"name": "B", "weight": 45, "template": b},
        ],
        **more,
    }
