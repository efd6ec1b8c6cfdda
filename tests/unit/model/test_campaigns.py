"""Campaign model types: send windows."""

from __future__ import annotations

import datetime as dt

from portrait.model.campaigns import SendWindow


def test_send_window_across_midnight() -> None:
    night = SendWindow(start="22:00", end="02:00")
    assert night.contains(dt.time(23, 30)) and night.contains(dt.time(1, 59))
    assert not night.contains(dt.time(2, 0)) and not night.contains(dt.time(12, 0))
    evening = SendWindow(start="19:00", end="21:00")
    assert evening.contains(dt.time(19, 0)) and not evening.contains(dt.time(21, 0))


def test_console_page_names_are_reserved() -> None:
    import pytest
    from pydantic import ValidationError

    from portrait.model.campaigns import CampaignSpec

    for name in ("new", "import", "plan"):
        with pytest.raises(ValidationError, match="names a console page"):
            CampaignSpec.model_validate(
                {
                    "name": name,
                    "audience": "x",
                    "channel": "file",
                    "variants": [{"name": "A", "weight": 100, "template": "t"}],
                }
            )
