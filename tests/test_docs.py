"""The docs stay true: their examples run, and every setting and command is documented.

- ``bash`` blocks of docs/quickstart.md marked with a ``<!-- test: run -->`` line right before
  them run in order, in one empty temporary folder, with the venv's ``bin`` first on PATH;
- a ``text`` block right after a marked ``bash`` block (nothing but blank lines between) is
  the output the block shows, and must be what it prints (standard output and standard error,
  as a terminal shows them): see :func:`matches_output` for the only tolerances (times,
  durations, table widths, and ``...`` where a page leaves something out);
- then the ``python`` blocks of docs/quickstart.md, docs/index-and-profile.md and docs/rules.md
  run, in that order, in the same folder (the blocks of one file share one interpreter, like a
  reader's session); a ``#>`` comment at the end of a ``print(...)`` line, or ``#>`` lines
  right below it, show what it prints, and are compared the same way;
- then the marked ``bash`` blocks of docs/segments.md and its ``python`` blocks, in the same
  folder (on the quickstart's demo workspace);
- docs/discovery.md's blocks the same way, on a demo workspace of their own;
- every setting of ``portrait.config.SETTINGS`` is named in docs/configuration.md;
- every command, subcommand and long option of the CLI is named in docs/cli.md;
- the YAML examples of docs/tags.md are valid tag files.
"""

from __future__ import annotations

import itertools
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
    follows_block: bool = False  # only blank lines between it and the block before

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
            Block(
                name,
                start + 1,
                match.group(1),
                "\n".join(body) + "\n",
                previous == RUN_MARKER,
                follows_block=previous == "```" and bool(blocks),
            )
        )
        i += 1
    return blocks


def shown_outputs(blocks: list[Block]) -> dict[int, Block]:
    """The ``text`` block showing each marked ``bash`` block's output, by the bash block's
    line."""
    return {
        before.line: block
        for before, block in itertools.pairwise(blocks)
        if before.runnable
        and before.lang == "bash"
        and block.lang == "text"
        and block.follows_block
    }


# What legitimately differs between runs: the clock and how long things take.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)")
DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|s)\b")
TIMED_COLUMN = re.compile(r"^(?:seconds|\w+_seconds|\w+_at|last_built|ms)$")
TABLE_CELL = re.compile(r"[│┃]")
TABLE_RULE = re.compile(r"^[\s┏┓┗┛┡┩┳┻╇╋━─└┘┌┐├┤┬┴┼]+$")


def _normal_table_row(line: str, header: list[str] | None) -> tuple[str, list[str] | None]:
    """A table row with its cells stripped (widths follow the widest value, and times vary
    in width), and the cells of time columns masked."""
    cells = [c.strip() for c in TABLE_CELL.split(line.strip())[1:-1]]
    if "┃" in line:  # the header row
        return " │ ".join(cells), cells
    if header:
        if header == ["field", "value"] and len(cells) == 2:  # a record: one field a row
            if TIMED_COLUMN.match(cells[0]):
                cells[1] = "<time>"
        else:
            cells = [
                "<time>" if i < len(header) and TIMED_COLUMN.match(header[i]) and c else c
                for i, c in enumerate(cells)
            ]
    return " │ ".join(cells), header


def normal_output(text: str) -> list[str]:
    """Output lines as compared: times and durations masked, tables without their padding,
    trailing spaces dropped."""
    lines = [TIMESTAMP.sub("<time>", line).rstrip() for line in text.splitlines()]
    lines = [DURATION.sub("<duration>", line) for line in lines]
    out: list[str] = []
    header: list[str] | None = None
    for i, line in enumerate(lines):
        if TABLE_RULE.match(line) and line.strip():
            out.append(re.sub(r"([━─])\1+", r"\1", line.strip()))
            if line.strip()[0] in "┏┌":
                header = None
            continue
        if TABLE_CELL.search(line):
            row, header = _normal_table_row(line, header)
            out.append(row)
            continue
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        # a table's title is centred over it
        out.append(line.strip() if following[:1] in ("┏", "┌") else line)
    while out and not out[-1]:
        out.pop()
    return out


def matches_output(shown: str, actual: str) -> bool:
    """Whether ``actual`` output is what a page ``shown``: the same lines after
    :func:`normal_output`; a line ``...`` stands for any number of lines, ``...`` within a
    line for any text."""
    pattern = ""
    for line in normal_output(shown):
        if line.strip() == "...":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += ".*?".join(re.escape(part) for part in line.split("...")) + r"\n"
    text = "".join(line + "\n" for line in normal_output(actual))
    return re.fullmatch(pattern, text) is not None


def _output_diff(block: Block, shown: str, actual: str) -> str:
    import difflib

    diff = difflib.unified_diff(
        normal_output(shown),
        normal_output(actual),
        f"{block.label} (shown)",
        "printed",
        lineterm="",
    )
    return "\n".join(diff) + f"\n--- printed, as is ---\n{actual}"


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
    env["PYTHONUNBUFFERED"] = "1"  # standard output and error interleave as on a terminal
    return env


def _explain(what: str, result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{what} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{(result.stderr or '')[-4000:]}"
    )


_PYTHON_RUNNER = textwrap.dedent(
    """
    import ast, contextlib, io, json, sys, tokenize, traceback

    blocks = json.load(open(sys.argv[1], encoding="utf-8"))
    printed = []  # what each print() with a shown output printed


    def shown_outputs(code):
        \"\"\"Line a print() ends on -> the output shown for it: a '#>' comment at the end of
        that line, or '#>' comment lines right below it, one per line of output.\"\"\"
        comments = {}  # line -> (the comment is alone on its line, its text)
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.COMMENT and token.string.startswith("#>"):
                text = token.string[2:]
                text = text[1:] if text.startswith(" ") else text
                comments[token.start[0]] = (token.line.strip() == token.string, text)
        shown = {}
        for line in sorted(comments):
            alone, text = comments[line]
            if alone and line - 1 in comments:  # a further line of the output above
                continue
            rows, below = [text], line + 1
            while below in comments and comments[below][0]:
                rows.append(comments[below][1])
                below += 1
            shown[line - 1 if alone else line] = "\\n".join(rows)
        return shown


    class Instrument(ast.NodeTransformer):
        def __init__(self, shown):
            self.shown = shown
            self.used = set()

        def visit_Expr(self, node):
            call = node.value
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == "print"
                and node.end_lineno in self.shown
            ):
                self.used.add(node.end_lineno)
                check = ast.Call(ast.Name("__shown__", ast.Load()), [ast.Constant(node.end_lineno)], [])
                return ast.copy_location(ast.With([ast.withitem(check)], [node]), node)
            return node


    @contextlib.contextmanager
    def capture(label, line, expected):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            yield
        page, first = label.rsplit(":", 1)
        where = f"{page}:{int(first) + line}"
        printed.append({"label": where, "shown": expected, "printed": buffer.getvalue()})
        sys.stdout.write(buffer.getvalue())


    namespace = {"__name__": "__main__"}
    for block in blocks:
        shown = shown_outputs(block["code"])
        instrument = Instrument(shown)
        tree = ast.fix_missing_locations(instrument.visit(ast.parse(block["code"])))
        stray = sorted(set(shown) - instrument.used)
        if stray:
            print(f"block {block['label']}: '#>' output on line(s) {stray} follows no print()", file=sys.stderr)
            sys.exit(1)
        namespace["__shown__"] = lambda line, label=block["label"], shown=shown: capture(label, line, shown[line])
        try:
            exec(compile(tree, block["label"], "exec"), namespace)
        except Exception:
            print(f"block {block['label']} failed:", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)
    json.dump(printed, open(sys.argv[2], "w", encoding="utf-8"))
    """
)


def _run_bash_blocks(name: str, cwd: Path, env: dict[str, str]) -> None:
    """The marked ``bash`` blocks of ``docs/<name>``, in order, each with ``bash -e``; each
    printing the output the page shows after it, if it shows one."""
    every = code_blocks(name)
    shown = shown_outputs(every)
    blocks = [b for b in every if b.runnable and b.lang == "bash"]
    assert blocks, f"{name} has no runnable bash blocks"
    for block in blocks:
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block.code],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, _explain(f"bash block {block.label}", result)
        output = shown.get(block.line)
        if output is not None:
            assert matches_output(output.code, result.stdout), _output_diff(
                output, output.code, result.stdout
            )


def _run_python(
    blocks: list[dict[str, str]], cwd: Path, env: dict[str, str], what: str
) -> list[dict[str, str]]:
    """Run python ``blocks`` ({"label", "code"}) in one interpreter; what each print() with a
    ``#>`` output printed, with that output ({"label", "shown", "printed"})."""
    script = cwd / f".run-{what}.json"
    script.write_text(json.dumps(blocks), encoding="utf-8")
    outputs = cwd / f".printed-{what}.json"
    result = subprocess.run(
        [sys.executable, "-c", _PYTHON_RUNNER, str(script), str(outputs)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, _explain(f"python blocks of {what}", result)
    printed: list[dict[str, str]] = json.loads(outputs.read_text(encoding="utf-8"))
    return printed


def _run_python_blocks(name: str, cwd: Path, env: dict[str, str]) -> None:
    blocks = [b for b in code_blocks(name) if b.lang == "python"]
    assert blocks, f"{name} has no python blocks"
    printed = _run_python([{"label": b.label, "code": b.code} for b in blocks], cwd, env, name)
    wrong = [
        f"{p['label']}: shown {p['shown']!r}, printed {p['printed'].rstrip(chr(10))!r}"
        for p in printed
        if not matches_output(p["shown"], p["printed"])
    ]
    assert not wrong, "printed output differs from the '#>' output shown:\n" + "\n".join(wrong)


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
    assert (tmp_path / "autumn-effects.png").stat().st_size > 500
    _run_python_blocks("api.md", tmp_path, env)
    _run_python_blocks("ui.md", tmp_path, env)


def test_discovery_examples_run(tmp_path: Path) -> None:
    """The shell and Python examples of docs/discovery.md, on a demo workspace of their own
    (beside the long chain above, so the two can run at the same time)."""
    env = _env()
    made = subprocess.run(
        ["portrait", "demo", "demo-ws", "--users", "2000", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert made.returncode == 0, made.stderr
    _run_bash_blocks("discovery.md", tmp_path, env)
    _run_python_blocks("discovery.md", tmp_path, env)
    for chart in ("rank.svg", "niche.svg", "personas.svg", "cube.svg"):
        assert (tmp_path / chart).stat().st_size > 500, chart
    assert (tmp_path / "demo-ws" / "cubes" / "beauty_needs.yaml").is_file()


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


def test_shown_output_must_match_but_for_times_durations_and_table_widths() -> None:
    """How a page's output block is compared with what the example printed."""
    shown = textwrap.dedent(
        """\
        built profile 000001 as of 2026-10-31: 4 users, in 0.71s
              history
        ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━┳━━━━━━━━━┓
        ┃ evaluated_at              ┃ size ┃ seconds ┃
        ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━╇━━━━━━━━━┩
        │ 2026-11-23T15:38:50+00:00 │ 2812 │  0.0004 │
        └───────────────────────────┴──────┴─────────┘
        ...
        coverage 75.0% · built ... · index 0.001s
        """
    )
    printed = textwrap.dedent(
        """\
        built profile 000001 as of 2026-10-31: 4 users, in 12.5s
                    history
        ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━┳━━━━━━━━━━━┓
        ┃ evaluated_at                     ┃ size ┃ seconds   ┃
        ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━╇━━━━━━━━━━━┩
        │ 2026-12-01T08:00:00.123456+00:00 │ 2812 │ 0.0001234 │
        └──────────────────────────────────┴──────┴───────────┘
        name: age_band
        title: 年龄段
        coverage 75.0% · built 2026-12-01T08:00:00+00:00 · index 0.006s
        """
    )
    assert matches_output(shown, printed)
    assert not matches_output(shown, printed.replace("2812", "2813"))  # a count is a count
    assert not matches_output(shown, printed.replace("4 users", "5 users"))
    assert not matches_output(shown, printed.replace("coverage 75.0%", "coverage 70.0%"))
    assert not matches_output(shown, printed + "one more line\n")
    assert not matches_output(shown.replace("...\n", ""), printed)  # nothing left out silently
    # the quickstart once showed list values as JSON text; the CLI joins them with |
    assert not matches_output(
        'u001,<25,2,"[""lipstick"", ""toner""]",high\n', "u001,<25,2,lipstick|toner,high\n"
    )


def test_every_page_with_marked_examples_shows_outputs_that_are_checked() -> None:
    for name, least in (("quickstart.md", 5), ("segments.md", 7), ("campaigns.md", 1)):
        assert len(shown_outputs(code_blocks(name))) >= least, name


def test_python_outputs_shown_with_a_comment_are_what_print_prints(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """\
        print(1 + 1)  #> 2
        # a plain comment explains and is not compared
        print("a", "b")  # two values
        for word in ["x"]:
            print(word)
            #> y
        print({"k": [1, 2]})
        #> {'k': [1,
        #>  2]}
        """
    )
    printed = _run_python([{"label": "page.md:10", "code": code}], tmp_path, _env(), "t")
    assert [p["label"] for p in printed] == ["page.md:11", "page.md:15", "page.md:17"]
    assert [matches_output(p["shown"], p["printed"]) for p in printed] == [True, False, False]
    assert printed[2]["shown"] == "{'k': [1,\n 2]}"
