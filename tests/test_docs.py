"""The docs stay true: their examples run, and every setting and command is documented.

- ``bash`` blocks of docs/quickstart.md marked with a ``<!-- test: run -->`` line right before
  them run in order, in one empty temporary folder, with the venv's ``bin`` first on PATH;
- then the ``python`` blocks of docs/quickstart.md, docs/index-and-profile.md and docs/rules.md
  run, in that order, in the same folder (the blocks of one file share one interpreter, like a
  reader's session);
- then the marked ``bash`` blocks of docs/segments.md and its ``python`` blocks, in the same
  folder (on the quickstart's demo workspace);
- every setting of ``portrait.config.SETTINGS`` is named in docs/configuration.md;
- every command, subcommand and long option of the CLI is named in docs/cli.md;
- the YAML examples of docs/tags.md are valid tag files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from portrait.cli.app import app
from portrait.config import SETTINGS
from portrait.model.tags import parse_tag_file

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUN_MARKER = "<!-- test: run -->"
FENCE = re.compile(r"^```(\w*)\s*$")
TIMEOUT = 180


@dataclass(frozen=True)
class Block:
    """A fenced code block of a Markdown file."""

    file: str
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    runnable: bool

    @property
    def label(self) -> str:
        return f"{self.file}:{self.line}"


def code_blocks(name: str) -> list[Block]:
    """Fenced blocks of ``docs/<name>``; ``runnable`` when the marker line precedes the fence."""
    lines = (DOCS / name).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        start = i
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{name}:{start + 1}: code block is not closed")
        blocks.append(
            Block(name, start + 1, match.group(1), "\n".join(body) + "\n", previous == RUN_MARKER)
        )
        i += 1
    return blocks


def _env() -> dict[str, str]:
    """The test's environment without PORTRAIT_* settings, with the venv's bin first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTRAIT_")}
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "portrait").exists():
        found = shutil.which("portrait")
        assert found, "the portrait command is not installed (pip install -e .)"
        bin_dir = Path(found).parent
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    env["COLUMNS"] = "120"
    return env


def _explain(what: str, result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{what} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
    )


_PYTHON_RUNNER = textwrap.dedent(
    """
    import json, sys, traceback
    blocks = json.load(open(sys.argv[1], encoding="utf-8"))
    namespace = {"__name__": "__main__"}
    for block in blocks:
        try:
            exec(compile(block["code"], block["label"], "exec"), namespace)
        except Exception:
            print(f"block {block['label']} failed:", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)
    """
)


def _run_bash_blocks(name: str, cwd: Path, env: dict[str, str]) -> None:
    """The marked ``bash`` blocks of ``docs/<name>``, in order, each with ``bash -e``."""
    blocks = [b for b in code_blocks(name) if b.runnable and b.lang == "bash"]
    assert blocks, f"{name} has no runnable bash blocks"
    for block in blocks:
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block.code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, _explain(f"bash block {block.label}", result)


def _run_python_blocks(name: str, cwd: Path, env: dict[str, str]) -> None:
    blocks = [b for b in code_blocks(name) if b.lang == "python"]
    assert blocks, f"{name} has no python blocks"
    script = cwd / f".run-{name}.json"
    script.write_text(
        json.dumps([{"label": b.label, "code": b.code} for b in blocks]), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-c", _PYTHON_RUNNER, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, _explain(f"python blocks of {name}", result)


def test_quickstart_has_runnable_examples() -> None:
    blocks = code_blocks("quickstart.md")
    runnable = [b for b in blocks if b.runnable]
    assert len(runnable) >= 5
    assert all(b.lang == "bash" for b in runnable), "only bash blocks carry the run marker"
    assert any("portrait demo" in b.code for b in runnable)


def test_doc_examples_run(tmp_path: Path) -> None:
    """Quickstart shell steps, then the Python examples of the quickstart, the index page and
    the rule language, then the shell and Python examples of the segments page."""
    env = _env()
    _run_bash_blocks("quickstart.md", tmp_path, env)
    assert (tmp_path / "shop" / "profile" / "CURRENT").is_file()
    assert (tmp_path / "demo-ws" / "profile" / "CURRENT").is_file()

    _run_python_blocks("quickstart.md", tmp_path, env)
    _run_python_blocks("index-and-profile.md", tmp_path, env)
    _run_python_blocks("rules.md", tmp_path, env)

    _run_bash_blocks("segments.md", tmp_path, env)
    assert (tmp_path / "demo-ws" / "meta" / "portrait.db").is_file()
    _run_python_blocks("segments.md", tmp_path, env)
    _run_python_blocks("insight.md", tmp_path, env)
    _run_bash_blocks("charts.md", tmp_path, env)
    _run_python_blocks("charts.md", tmp_path, env)
    for chart in ("new_house.png", "cross.html", "rules.json", "age.png", "high_value.svg"):
        assert (tmp_path / chart).stat().st_size > 500, chart
    _run_bash_blocks("campaigns.md", tmp_path, env)
    _run_python_blocks("campaigns.md", tmp_path, env)
    assert (tmp_path / "autumn-funnel.png").stat().st_size > 500
    _run_python_blocks("api.md", tmp_path, env)


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
    missing_env = [s.env for s in SETTINGS if s.env not in text]
    assert not missing_env, (
        f"environment variables missing from docs/configuration.md: {missing_env}"
    )
    missing_aliases = [a for s in SETTINGS for a in s.aliases if f"`{a}`" not in text]
    assert not missing_aliases, (
        f"alias variables missing from docs/configuration.md: {missing_aliases}"
    )
    for setting in SETTINGS:
        default = f'"{setting.default}"' if isinstance(setting.default, str) else setting.default
        row = f"| `{setting.name}` | `{default}` | `{setting.env}` |"
        assert row in text, f"docs/configuration.md has no table row starting {row!r}"


def _walk(command: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """Every command under ``command`` with its full name. Duck-typed: recent typer versions
    carry their own copy of click, so ``isinstance(..., click.Group)`` does not hold."""
    found = [(path, command)]
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        found += _walk(sub, (*path, name))
    return found


def _section(text: str, title: str) -> str | None:
    """The text under the heading ``title`` (plain or as a code span), up to the next heading
    of the same or a higher level."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(#+) `?" + re.escape(title) + r"`?\s*$", line)
        if match is None:
            continue
        level = len(match.group(1))
        body = []
        for other in lines[i + 1 :]:
            heading = re.match(r"^(#+) ", other)
            if heading and len(heading.group(1)) <= level:
                break
            body.append(other)
        return "\n".join(body)
    return None


COMMANDS = _walk(typer.main.get_command(app), ("portrait",))
assert len(COMMANDS) > 5, "walking the typer app found no commands"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_option_is_documented(path: tuple[str, ...], command: Any) -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    name = " ".join(path)
    assert name in text, f"'{name}' is not in docs/cli.md"
    if len(path) == 1:
        return
    section = _section(text, name)
    assert section is not None, f"docs/cli.md has no section headed `{name}`"
    common = _section(text, "Common options") or ""
    for param in command.params:
        if getattr(param, "param_type_name", None) != "option":
            continue
        for opt in param.opts:
            if opt.startswith("--") and opt != "--help":
                assert f"`{opt}" in section or f"`{opt}" in common, (
                    f"option {opt} of '{name}' is documented neither in its section nor under "
                    "Common options of docs/cli.md"
                )


def test_tag_examples_are_valid_definitions() -> None:
    """Every YAML block of docs/tags.md that is a tag file parses and validates."""
    blocks = [b for b in code_blocks("tags.md") if b.lang == "yaml"]
    assert len(blocks) >= 5
    for block in blocks:
        tags = parse_tag_file(block.code, block.label, default_category="example")
        assert tags, f"{block.label}: no tags"
