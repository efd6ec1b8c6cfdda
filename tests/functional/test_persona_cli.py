"""``portrait persona fit|show|name|save`` on the demo: the fit as JSON (a real process), the
build, the cards, a name, the segments; bad input exits 2 naming the problem; the silhouette
chart is a PNG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sklearn.cluster  # noqa: F401  (OpenMP loaded before threadpool_limits, so it is limited)
from threadpoolctl import threadpool_limits

import portrait
from portrait.workspace import Workspace

pytestmark = pytest.mark.usefixtures("no_portrait_environment")

PORTRAIT = str(Path(sys.executable).parent / "portrait")
NAME = "lifestyle_persona"
FEATURES = "sessions_per_week,price_sensitivity,social_shares_30d,main_interest,loyalty_points"


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """k-means' OpenMP threads spin badly when the cores are shared (xdist workers)."""
    with threadpool_limits(1):
        yield


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``portrait ARGS`` in a process of its own (k-means on one thread), checked."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([PORTRAIT, *args], capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr
    return result


def invoke(*args: str) -> Any:
    """``portrait ARGS`` in this process; the result has exit_code, stdout and stderr."""
    from typer.testing import CliRunner

    from portrait.cli.app import app

    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> Any:
    """The JSON a successful ``portrait ARGS -f json`` printed."""
    result = invoke(*args, "-f", "json")
    assert result.exit_code == 0, (result.exit_code, result.output)
    return json.loads(result.stdout)


def refused(*args: str) -> str:
    """The stderr of ``portrait ARGS``, which must exit 2 (bad input) without a traceback."""
    result = invoke(*args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.stderr
    return str(result.stderr)


def test_fit_build_show_name_save(demo_ws: Workspace) -> None:
    ws = str(demo_ws.root)
    fitted = json.loads(
        run(
            "persona", "fit", NAME, "--features", FEATURES, "--k", "4", "-w", ws, "-f", "json"
        ).stdout
    )
    assert fitted["name"] == NAME and fitted["k"] == 4 and fitted["chosen"] is False
    assert fitted["features"] == FEATURES.split(",") and fitted["sample"] == 3000
    assert list(fitted["shares"]) == ["P1", "P2", "P3", "P4"]
    assert sum(fitted["shares"].values()) == pytest.approx(1.0)
    assert fitted["stability"] >= 0.8 and fitted["next"] == "portrait build"

    built = ok("build", "-w", ws)
    assert built["computed"] == [NAME] and built["users"] == 3000

    cards = ok("persona", "show", NAME, "-w", ws)
    assert cards["k"] == 4 and [c["persona"] for c in cards["personas"]] == ["P1", "P2", "P3", "P4"]
    sizes = [c["size"] for c in cards["personas"]]
    assert sum(sizes) == 3000
    assert sizes == [round(s * 3000) for s in fitted["shares"].values()]
    assert all(len(c["distinctive"]) <= 5 and c["approximation"]["rule"] for c in cards["personas"])
    table = invoke("persona", "show", NAME, "-w", ws, "-f", "csv")
    assert table.exit_code == 0
    first = cards["personas"][0]["distinctive"][0]  # its TGI with the 95% interval
    low, high = round(first["tgi_low"]), round(first["tgi_high"])
    assert f"(TGI {first['tgi']:.0f}, 95% {low}–{high})" in table.stdout
    table = invoke("persona", "show", NAME, "-w", ws)
    assert table.exit_code == 0 and "4 personas on sessions_per_week" in table.stdout

    named = ok("persona", "name", NAME, "P1", "--name", "居家精打细算", "-w", ws)
    assert named == {"persona": "P1", "name": "居家精打细算", "description": ""}
    described = ok("persona", "name", NAME, "P1", "--description", "home, coupons", "-w", ws)
    assert described["name"] == "居家精打细算" and described["description"] == "home, coupons"
    labels = portrait.open(demo_ws.root).personas.definition(NAME).labels
    assert labels["P1"].name == "居家精打细算" and labels["P2"].name == ""
    assert ok("persona", "show", NAME, "-w", ws)["personas"][0]["name"] == "居家精打细算"

    saved = ok("persona", "save", NAME, "-w", ws)
    assert [s["name"] for s in saved] == [f"{NAME}_p{i}" for i in range(1, 5)]
    assert [s["size"] for s in saved] == sizes
    assert saved[0]["description"] == "居家精打细算"
    assert "exists" in refused("persona", "save", NAME, "-w", ws)
    assert len(ok("persona", "save", NAME, "--replace", "-w", ws)) == 4


def test_bad_input_exits_2_naming_the_problem(demo_ws: Workspace) -> None:
    ws = str(demo_ws.root)
    fit = ("persona", "fit")
    assert "k out of range: 1" in refused(*fit, "lp", "--features", FEATURES, "--k", "1", "-w", ws)
    assert "k out of range: 51" in refused(
        *fit, "lp", "--features", FEATURES, "--k", "51", "-w", ws
    )
    unknown = refused(*fit, "lp", "--features", "sessions_per_wek,age", "--k", "3", "-w", ws)
    assert "no built tag named 'sessions_per_wek'" in unknown
    assert "did you mean 'sessions_per_week'" in unknown
    assert "name the tags to cluster on" in refused(*fit, "lp", "--features", ",", "-w", ws)
    assert "cannot name a tag" in refused(*fit, "Bad-Name", "--features", FEATURES, "-w", ws)
    assert "is a tag already" in refused(*fit, "age", "--features", FEATURES, "-w", ws)
    assert "not a range" in refused(
        *fit, "lp", "--features", FEATURES, "--k-range", "2-x", "-w", ws
    )
    assert "--sample must be between 100" in refused(
        *fit, "lp", "--features", FEATURES, "--sample", "10", "-w", ws
    )
    viewer = invoke("--role", "viewer", *fit, "lp", "--features", FEATURES, "--k", "3", "-w", ws)
    assert viewer.exit_code == 2 and "may not fit personas" in viewer.stderr
    missing = refused("persona", "show", "lifestyle_persna", "-w", ws)
    assert "no persona tag" in missing
    assert "no persona tag" in refused("persona", "name", "nope", "P1", "--name", "x", "-w", ws)
    assert not (demo_ws.layout.tags_dir / "personas.yaml").exists()

    # as one JSON error object with -f json
    result = invoke(*fit, "lp", "--features", FEATURES, "--k", "51", "-w", ws, "-f", "json")
    assert result.exit_code == 2 and result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "bad_input" and error["where"] == "k"
    assert "k out of range" in error["message"]

    # fitted, not built yet; fitted again without --replace; an unknown persona
    ok(*fit, NAME, "--features", FEATURES, "--k", "4", "-w", ws)
    assert "not built yet" in refused("persona", "show", NAME, "-w", ws)
    assert "--replace" in refused(*fit, NAME, "--features", FEATURES, "--k", "4", "-w", ws)
    assert "no persona 'P7'" in refused("persona", "name", NAME, "P7", "--name", "x", "-w", ws)


def test_fit_writes_the_silhouette_chart(demo_ws: Workspace, tmp_path: Path) -> None:
    chart = tmp_path / "sil.png"
    result = invoke(
        "persona",
        "fit",
        "habits",
        "--features",
        "sessions_per_week,price_sensitivity,social_shares_30d",
        "--k-range",
        "2-5",
        "--chart",
        str(chart),
        "-w",
        str(demo_ws.root),
    )
    assert result.exit_code == 0, result.output
    assert "chosen by silhouette" in result.stdout
    assert f"chart written to {chart}" in " ".join(result.stderr.split())
    data = chart.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
