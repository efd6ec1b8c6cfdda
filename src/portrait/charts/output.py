"""Writing a chart specification to a file: SVG, PNG, self-contained HTML or the spec as JSON.

Rendering is done offline by vl-convert (Vega and Vega-Lite compiled into one native library,
no browser and no network); the HTML file embeds the Vega libraries instead of loading them
from a CDN. Files are written to a temporary name beside the target and renamed, so a failed
render never leaves a half-written chart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from portrait.errors import InputError
from portrait.store.versions import plain_file_mode

FORMATS = {".svg": "SVG", ".png": "PNG", ".html": "HTML", ".json": "Vega-Lite JSON"}
#: PNG pixels per spec pixel: sharp on high-density screens and in documents
PNG_SCALE = 2.0
_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]")


class ChartFontWarning(UserWarning):
    """A PNG chart has CJK text but the machine has no CJK font to draw it with."""


def chart_format(path: Path) -> str:
    """The file suffix of ``path`` when Portrait can write it, else a clear error."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot write a chart to '{path}': unknown file type '{path.suffix or '(none)'}'",
            hint="use " + ", ".join(f"{s} ({n})" for s, n in FORMATS.items()),
        )
    return suffix


def render(spec: dict[str, Any], suffix: str) -> bytes:
    """The chart in one of :data:`FORMATS`, as bytes."""
    if suffix == ".json":
        return (json.dumps(spec, ensure_ascii=False, indent=2) + "\n").encode()
    import vl_convert as vlc

    if suffix == ".svg":
        return str(vlc.vegalite_to_svg(spec)).encode()
    if suffix == ".png":
        if _CJK.search(json.dumps(spec, ensure_ascii=False)) and not has_cjk_font():
            warnings.warn(
                "no CJK font found (fc-list :lang=zh is empty): Chinese labels will be missing "
                "from the PNG; install one, e.g. apt-get install fonts-noto-cjk",
                ChartFontWarning,
                stacklevel=3,
            )
        return bytes(vlc.vegalite_to_png(spec, scale=PNG_SCALE))
    if suffix == ".html":
        return str(vlc.vegalite_to_html(spec, bundle=True)).encode()
    raise AssertionError(suffix)


def save_chart(spec: dict[str, Any], path: str | Path) -> Path:
    """Write ``spec`` to ``path``; the suffix picks the format (.svg, .png, .html, .json)."""
    target = Path(path)
    suffix = chart_format(target)
    folder = target.parent if str(target.parent) else Path()
    if not folder.is_dir():
        raise InputError(f"cannot write a chart to '{target}': folder '{folder}' does not exist")
    content = render(spec, suffix)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, plain_file_mode())  # mkstemp makes 0600; a chart is an ordinary file
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


@cache
def has_cjk_font() -> bool:
    """Whether fontconfig knows a Chinese font (True when fontconfig cannot be asked)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return True
    try:
        found = subprocess.run(  # noqa: S603 - fixed arguments, no user input
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return True
    return bool(found.stdout.strip())
