"""Screenshots of the console's main pages into ``docs/ui/`` (``make screenshots``).

Makes a 20,000-user demo workspace (or uses ``--workspace``), adds what the pages show (an
admin account, segments, a campaign launched on the file channel with responses, a persona
tag fitted on the demo's lifestyle tags and built), starts
``portrait serve`` on a free port, and photographs each page in Debian's chromium at
1400×900 (the whole page). The pictures in ``docs/ui.md`` are made by this script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

import portrait
from portrait.workspace import create_demo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the console's launch helpers live with its browser tests
from tests.browser.harness import ARGS, CHROMIUM, serve, stop  # noqa: E402

PASSWORD = "screenshot passphrase"  # noqa: S105 (an account on a throwaway demo)
LIFESTYLE = ["sessions_per_week", "price_sensitivity", "social_shares_30d", "main_interest"]
RULE = 'city in ("北京", "上海") and (age between 25 and 35 or not events("view", last="30d") > 3)'


def prepare(root: Path) -> str:
    """Accounts, segments and a measured campaign; returns a user id to look up."""
    ws = portrait.open(root)
    ws.accounts.create("demo", "admin", PASSWORD)
    for name, rule in {
        "young": "age < 30",
        "beijing": 'city = "北京"',
        "car_lovers": 'events("view", business_line="used_car", last="30d") >= 3',
        "new_house_seekers": 'events("search", business_line="new_house", last="30d") >= 1',
    }.items():
        ws.audiences.segments.create(name, rule)
    ws.campaigns.create(
        {
            "name": "autumn_sale",
            "audience": "young",
            "channel": "file",
            "control": 10,
            "variants": [
                {"name": "A", "weight": 45, "template": "{{ city }}的朋友，秋季 8 折"},
                {"name": "B", "weight": 45, "template": "{{ age_band }} 专属礼包"},
            ],
        }
    )
    ws.campaigns.launch("autumn_sale")
    sent = [
        json.loads(line)["user_id"]
        for path in sorted((root / "campaigns" / "outbox" / "autumn_sale").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = []
    for n, user in enumerate(sent):
        rows.append({"campaign": "autumn_sale", "user_id": user, "response": "delivered"})
        if n % 4 == 0:
            rows.append({"campaign": "autumn_sale", "user_id": user, "response": "clicked"})
            if n % 3 == 0:
                rows.append({"campaign": "autumn_sale", "user_id": user, "response": "converted"})
    # the control group receives nothing, but some of it converts anyway (the baseline)
    control = ws.select('campaign("autumn_sale", "control")').ids()
    rows += [
        {"campaign": "autumn_sale", "user_id": user, "response": "converted"}
        for user in control[::20]
    ]
    table = pa.Table.from_pylist([{**r, "ts": now, "revenue": None} for r in rows])
    ws.campaigns.record_responses(table)
    ws.personas.fit("lifestyle", LIFESTYLE, sample=5_000, title="生活方式画像")  # k by silhouette
    ws.build()
    ws.personas.describe("lifestyle", "P1", display_name="精打细算", description="buys on discount")
    ws.cubes.create(
        {
            "name": "where_when",
            "title": "城市 × 年龄 × 价值",
            "dimensions": [
                {"name": "city", "tag": "city", "max_values": 6},
                {"name": "age", "tag": "age_band"},
                {"name": "value", "tag": "value_tier"},
            ],
        }
    )
    ws.cubes.need(
        "where_when", {"city": "上海", "age": "25-30"}, "想要通勤路上的快捷服务", item="lipstick"
    )
    someone = ws.users.user_ids_of([7])[0]
    ws.close()
    return someone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument(
        "--only", default="", help="photograph these pages only (comma-separated, e.g. discover)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="portrait-shots-") as tmp:
        root = Path(tmp) / "demo-ws"
        create_demo(root, users=args.users)
        someone = prepare(root)
        process, url = serve(root, Path(tmp) / "serve.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_context(
                    locale="zh-CN", viewport={"width": 1400, "height": 900}
                ).new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{url}/login")
                page.locator("input[name=name]").fill("demo")
                page.locator("input[name=password]").fill(PASSWORD)
                page.locator("form[action='/login'] button[type=submit]").click()
                page.wait_for_url(f"{url}/")

                only = {n.strip() for n in args.only.split(",") if n.strip()}

                def shot(name: str) -> None:
                    if only and name not in only:
                        return
                    page.wait_for_load_state("networkidle")
                    page.wait_for_function(
                        "() => Array.from(document.querySelectorAll('.chart[data-spec]'))"
                        ".every(c => ['yes', 'failed'].includes(c.getAttribute('data-drawn')))"
                    )
                    page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                    print(f"docs/ui/{name}.png")

                page.goto(f"{url}/tags")
                shot("tags")
                page.goto(f"{url}/builder")
                page.locator("#rule-text").fill(RULE)
                page.locator("#apply-text").click()
                page.wait_for_function(
                    "() => document.querySelectorAll('#builder .cond').length === 3 && "
                    "!document.querySelector('#builder .count.pending') && "
                    "document.getElementById('total-size').getAttribute('data-size')"
                )
                shot("builder")
                page.goto(f"{url}/segments/young")
                shot("segments")
                page.goto(f"{url}/insight")
                page.locator("#target").fill("car_lovers")
                page.locator("#insight-form button[type=submit]").click()
                page.wait_for_selector(".chart[data-drawn=yes]")
                shot("insight")
                page.goto(f"{url}/discover?tab=niche")
                page.locator("#target").fill("orders_365d >= 1")
                page.locator("#tags").select_option(["city", "age_band"])
                page.locator("#panel-niche button[hx-post]").click()
                page.wait_for_selector("#niche-result .chart[data-drawn=yes]")
                shot("discover")
                page.goto(f"{url}/personas/lifestyle")
                shot("personas")
                page.goto(f"{url}/cubes/where_when?levels=2,3")
                page.wait_for_selector(".chart[data-drawn=yes]")
                shot("cubes")
                page.goto(f"{url}/cross")
                page.locator("#cross-form button[type=submit]").click()
                page.wait_for_load_state("networkidle")
                shot("cross")
                page.goto(f"{url}/users")
                page.locator("input[name=user_id]").fill(someone)
                page.locator("input[name=user_id]").press("Enter")
                page.wait_for_load_state("networkidle")
                shot("user360")
                page.goto(f"{url}/campaigns/autumn_sale")
                shot("campaigns")
                page.goto(f"{url}/admin/audit")
                shot("admin")
                browser.close()
        finally:
            stop(process)


if __name__ == "__main__":
    main()
