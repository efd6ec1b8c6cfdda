"""The README's first-workspace walkthrough runs as written (shell, then Python)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"

USERS = "user_id,age,city\nu1,34,北京\nu2,22,上海\nu3,,北京\n"
EVENTS = (
    "user_id,ts,event,car_brand\n"
    "u1,2026-10-30 20:00:00,search,\n"
    "u1,2026-10-30 21:00:00,search,\n"
    "u1,2026-10-31 08:00:00,search,\n"
    "u1,2026-10-31 09:00:00,view,宝马\n"
    "u2,2026-10-31 10:00:00,view,大众\n"
)


def blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_readme_walkthrough(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text(USERS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("PORTRAIT_WORKSPACE", None)
    shell = blocks("bash")[1]  # the first block is the two make commands
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    profile = json.loads(result.stdout[result.stdout.index("[\n") :])
    assert profile[0] == {"user_id": "u1", "city": "北京", "brands": ["宝马"]}
    python = blocks("python")[0]
    run = subprocess.run(
        [sys.executable, "-c", python],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
