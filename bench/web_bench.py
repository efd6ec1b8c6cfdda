"""The web console in a real browser, beside the same steps through the HTTP API alone.

Starts ``portrait serve`` over a workspace (by default the 10M-user demo of the other
benchmarks), signs a console user in through Debian's chromium (Playwright) and measures:

1. **first render** of every main page: navigation start to the load event, and to the page
   complete: its results shown where they follow the first render (association rules, RFM)
   and the last chart drawn (the time a person waits to see everything);
2. **builder edit → exact count on screen**: on a 5-condition rule, an edit made in the page
   (a choice in a picker, counted at once; a number typed, counted after the 60 ms typing
   pause) until the new exact total is on screen; the server's own time for the count
   request is reported beside it;
3. **insight with all default tags**: the insight form submitted for a segment, until the
   report's table and both charts are drawn (the result page's own clock, from the
   submission);
4. the same counts and the insight report through the HTTP API (``POST /v1/count``,
   ``POST /v1/insight``) with an analyst key, as a program calling the API would see them.

It reports; it never fails on a result. Usage::

    .venv/bin/python bench/web_bench.py [--workspace /path/to/10M-demo] [--runs 30]

The workspace gets a console user ``bench-admin`` and an API key (nothing else changes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import portrait

# the console's launch helpers live with its browser tests (this script runs from the repo)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser.harness import ARGS, CHROMIUM, serve, stop

PASSWORD = "bench console password"  # noqa: S105 (a benchmark account on a local workspace)
RULE = (
    'city in ("北京", "上海", "深圳") and age between 25 and 40 and gender = "女" '
    'and events("view", last="30d") > 3 and not segment("bench_web_base")'
)
PAGES = [
    "/",
    "/tags",
    "/tags/age",
    "/builder",
    "/segments",
    "/segments/bench_web_base",
    "/insight",
    "/cross",
    "/association",
    "/rfm",
    "/users",
    "/campaigns",
    "/admin",
]


def quantiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p95": None, "n": 0}
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95, "n": len(ordered)}


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def prepare(root: Path) -> str:
    """A console admin and an analyst API key on the workspace, and the segment the rule
    refers to; returns the key."""
    ws = portrait.open(root)
    if "bench-admin" not in {a["name"] for a in ws.accounts.all()}:
        ws.accounts.create("bench-admin", "admin", PASSWORD)
    if "bench_web_base" not in ws.segments:
        ws.audiences.segments.create("bench_web_base", "age > 60")
    _, key = ws.access.managed_keys().create("analyst", name="web bench")
    ws.close()
    return key


READY_JS = """async () => {
  const charts = () => Array.from(document.querySelectorAll('.chart[data-spec]'));
  const started = Date.now();
  // pages whose analysis follows the first render (#results[aria-busy]): wait for it too
  while (document.querySelector('[aria-busy=true]') && Date.now() - started < 120000) {
    await new Promise(r => setTimeout(r, 5));
  }
  while (charts().some(c => c.getAttribute('data-drawn') !== 'yes' && c.getAttribute('data-drawn') !== 'failed')
         && Date.now() - started < 20000) {
    await new Promise(r => setTimeout(r, 5));
  }
  const nav = performance.getEntriesByType('navigation')[0];
  return {load: nav.loadEventEnd, dom: nav.domContentLoadedEventEnd, response: nav.responseEnd,
          ready: performance.now(), charts: charts().length, lazy: started > 0};
}"""

# an edit in the builder, then the time until the new exact total is on screen
EDIT_JS = """async ([kind, value]) => {
  const total = document.getElementById('total-size');
  const before = total.getAttribute('data-size');
  const cond = document.querySelectorAll('#builder .cond')[1];
  const changed = new Promise(resolve => {
    const seen = new MutationObserver(() => {
      if (total.getAttribute('data-size') !== before) { seen.disconnect(); resolve(performance.now()); }
    });
    seen.observe(total, {attributes: true, attributeFilter: ['data-size']});
    setTimeout(() => resolve(null), 20000);  // the total did not change: reported as missing
  });
  const t0 = performance.now();
  if (kind === 'type') {
    const box = cond.querySelector('input[aria-label="from"], input[aria-label="Value"]');
    box.value = String(value);
    box.dispatchEvent(new Event('input', {bubbles: true}));
  } else {
    const op = cond.querySelector('[data-role=op]');
    op.value = value;
    op.dispatchEvent(new Event('change', {bubbles: true}));
  }
  const t1 = await changed;
  if (t1 === null) return {screen: null, request: null};
  const counts = performance.getEntriesByType('resource').filter(e => e.name.endsWith('/builder/count'));
  const last = counts[counts.length - 1];
  return {screen: t1 - t0, request: last ? last.responseEnd - last.startTime : null};
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, default=Path("/work/bench10m"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--page-runs", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--no-insight", dest="insight", action="store_false", help="skip the insight steps"
    )
    args = parser.parse_args()
    root = args.workspace.resolve()
    key = prepare(root)
    population = portrait.open(root).data.status()["users"]
    log = Path(tempfile.gettempdir()) / f"web-bench-{os.getpid()}.log"
    started = time.perf_counter()
    process, url = serve(root, log, timeout=600)  # a 10M-user index takes a while to warm
    warm = time.perf_counter() - started
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "users": population,
        "server_ready_s": warm,
    }
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_context(locale="en-US").new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{url}/login")
            page.get_by_label("User name").fill("bench-admin")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/")
            # 1. first render of every page
            renders: dict[str, Any] = {}
            for path in PAGES:
                loads, readies, status = [], [], None
                for _ in range(args.page_runs + 1):  # the first, untimed, warms caches
                    answer = page.goto(f"{url}{path}")
                    status = answer.status if answer else None
                    got = page.evaluate(READY_JS)
                    loads.append(got["load"])
                    readies.append(max(got["ready"], got["load"]))
                renders[path] = {
                    "status": status,
                    "load": quantiles(loads[1:]),
                    "ready": quantiles(readies[1:]),
                }
            results["pages"] = renders
            # 2. builder edits
            page.goto(f"{url}/builder")
            page.locator("#rule-text").fill(RULE)
            page.get_by_role("button", name="Apply the text").click()
            page.wait_for_function("() => document.querySelectorAll('#builder .cond').length === 5")
            page.wait_for_function(
                "() => document.getElementById('total-size').getAttribute('data-size')"
            )
            typed, picked, requests = [], [], []
            # every edit makes a rule not counted before (no cached answer)
            for i in range(args.runs):
                got = page.evaluate(EDIT_JS, ["type", 18 + (i % 22) + 0.5 * (i // 22)])
                if got["screen"] is not None:
                    typed.append(got["screen"])
                if got["request"] is not None:
                    requests.append(got["request"])
            # picking: the operator of the 'age' condition flips between two forms
            page.goto(f"{url}/builder")
            page.locator("#rule-text").fill(RULE.replace("age between 25 and 40", "age >= 25"))
            page.get_by_role("button", name="Apply the text").click()
            page.wait_for_function("() => document.querySelectorAll('#builder .cond').length === 5")
            page.wait_for_function(
                "() => document.getElementById('total-size').getAttribute('data-size')"
            )
            for i in range(args.runs):
                # untimed: a new number, so that the timed pick below makes a new rule
                page.evaluate(EDIT_JS, ["type", 20 + i])
                got = page.evaluate(EDIT_JS, ["pick", [">", ">="][i % 2]])
                if got["screen"] is not None:
                    picked.append(got["screen"])
            results["builder"] = {
                "typed": quantiles(typed),
                "picked": quantiles(picked),
                "count_request": quantiles(requests),
            }
            # 3. insight with all default tags, posted from the page
            insight: list[float] = []
            for _ in range(max(3, args.page_runs // 2) + 1) if args.insight else ():
                page.goto(f"{url}/insight")
                page.locator("#target").fill("bench_web_base")
                page.locator("#insight-form button[type=submit]").click()
                page.wait_for_load_state("domcontentloaded")
                # the report page's own clock: from the form's submission (its navigation
                # start) to the last chart drawn, table included
                insight.append(page.evaluate(READY_JS)["ready"])
            results["insight_page"] = quantiles(insight[1:])
            browser.close()
        # 4. the same through the HTTP API alone
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as api:
            counts = []
            for i in range(args.runs):
                rule = RULE.replace("between 25 and 40", f"between 25 and {41.25 + i}")
                t0 = time.perf_counter()
                api.post("/v1/count", json={"rule": rule}).raise_for_status()
                counts.append((time.perf_counter() - t0) * 1e3)
            reports: list[float] = []
            for _ in range(max(3, args.page_runs // 2) + 1) if args.insight else ():
                t0 = time.perf_counter()
                api.post("/v1/insight", json={"target": "bench_web_base"}).raise_for_status()
                reports.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            api.get("/v1/tags").raise_for_status()
            results["api"] = {
                "count": quantiles(counts),
                "insight": quantiles(reports[1:]),
                "tags_ms": (time.perf_counter() - t0) * 1e3,
            }
    finally:
        stop(process)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict[str, Any]) -> None:
    print(f"\n## Web console ({results['users']:,} users; {results['machine']})\n")
    print(f"server ready (index warm) after {results['server_ready_s']:.1f} s\n")
    print("| page | status | first render p50 ms | p95 | complete p50 ms | p95 |")
    print("|---|---|---|---|---|---|")
    for path, r in results["pages"].items():
        print(
            f"| `{path}` | {r['status']} | {fmt(r['load']['p50'])} | {fmt(r['load']['p95'])} "
            f"| {fmt(r['ready']['p50'])} | {fmt(r['ready']['p95'])} |"
        )
    b, a = results["builder"], results["api"]
    print("\n| step | p50 ms | p95 ms | runs |")
    print("|---|---|---|---|")
    rows = [
        ("builder: pick an operator → exact total on screen", b["picked"]),
        ("builder: type a number → exact total on screen (incl. 60 ms pause)", b["typed"]),
        ("builder: its count request (all 5 nodes + total)", b["count_request"]),
        ("HTTP API: POST /v1/count, same rules", a["count"]),
        (
            "insight page: submit → report and its 2 charts drawn (all default tags)",
            results["insight_page"],
        ),
        ("HTTP API: POST /v1/insight, same segment", a["insight"]),
    ]
    for name, q in rows:
        print(f"| {name} | {fmt(q['p50'])} | {fmt(q['p95'])} | {q['n']} |")


if __name__ == "__main__":
    main()
