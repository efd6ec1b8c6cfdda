"""Campaign benchmark: dry run and launch of a large campaign, file and webhook channels.

A report, not a pass/fail test. On an existing workspace (``--workdir``, e.g. the 10M-user demo;
never rebuilt) it creates campaigns named ``bench_<time>_*`` over the audience ``--audience``
(default picks about 1M users) with a control and two variants whose templates read two tags,
and measures, once each (these are long, single runs):

- **dry run**: freeze the audience, assign, check the cap, render every message (nothing sent);
- **launch, file channel**: the same plus one delivery record per user in the metadata
  database, batches marked sending/sent, JSON-lines outbox files written;
- **launch, webhook channel**: the same to a local HTTP receiver (a separate process, answering
  200 to every batch, counting messages), batches of ``--batch-size``;
- **hand-written baseline**: what a script would do without Portrait: read the two tag columns
  of the audience with pyarrow, hash-assign with hashlib, render with Jinja2 and write JSON
  lines; no delivery records, no caps, no resumability.

The metadata database is a fresh SQLite file per run (so every run sees the same history: the
webhook campaign's cap check reads the file campaign's records only if they share a channel,
which they do not), and the workspace cap is on (``campaigns.cap_messages = 3``). Throughput
is users of the audience per second.

Usage::

    .venv/bin/python bench/campaign_bench.py --workdir /path/to/ws [--audience RULE]
        [--batch-size 1000] [--no-webhook]

Targets (reported, never enforced): file channel >= 50,000 users/s, webhook >= 5,000 users/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import portrait
from benchlib import base_facts, write_results

RESULTS = Path(__file__).resolve().parent / "results"
TEMPLATE_A = "{{ city }}的朋友，秋季新品 8 折"
TEMPLATE_B = "秋季新品上线，{{ age_band }} 专属礼包"


def _receiver(port_out: Any, stop: Any) -> None:
    received = {"messages": 0, "batches": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received["messages"] += len(json.loads(body)["messages"])
            received["batches"] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.timeout = 0.2
    while not stop.is_set():
        server.handle_request()
    port_out.put(received)


def baseline(ws: Any, rule: str, out: Path) -> tuple[float, int]:
    """Assign, render and write JSON lines by hand (pyarrow + hashlib + Jinja2)."""
    from jinja2 import Environment

    started = time.perf_counter()
    uids = np.fromiter(ws.select(rule).bitmap, dtype=np.int64)
    table = pq.read_table(ws.built.profile_file, columns=["user_id", "city", "age_band"])
    rows = table.take(pa.array(uids)).to_pylist()
    env = Environment(autoescape=False)  # noqa: S701 - plain-text messages, not HTML
    templates = {"A": env.from_string(TEMPLATE_A), "B": env.from_string(TEMPLATE_B)}
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            digest = hashlib.blake2b(f"base\x1f{row['user_id']}".encode(), digest_size=8)
            bucket = int.from_bytes(digest.digest(), "big") % 100
            if bucket < 10:
                continue
            variant = "A" if bucket < 55 else "B"
            text = templates[variant].render(row)
            f.write(
                json.dumps(
                    {"user_id": row["user_id"], "variant": variant, "text": text},
                    ensure_ascii=False,
                )
                + "\n"
            )
    return time.perf_counter() - started, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--audience", default=None, help="Rule (default: ~1M users by age).")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--no-webhook", action="store_true")
    args = parser.parse_args()

    toml = args.workdir / "portrait.toml"
    original = toml.read_text(encoding="utf-8") if toml.exists() else None
    settings = "\n[campaigns]\ncap_messages = 3\ncap_days = 7\n"
    settings += f"batch_size = {args.batch_size}\n"
    port_queue: Any = multiprocessing.Queue()
    stop = multiprocessing.Event()
    receiver = None
    if not args.no_webhook:
        receiver = multiprocessing.Process(target=_receiver, args=(port_queue, stop), daemon=True)
        receiver.start()
        port = port_queue.get(timeout=30)
        settings += f'\n[channels.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n'
    toml.write_text((original or "") + settings, encoding="utf-8")
    # a metadata database of its own: every run starts with the same (empty) send history
    meta = tempfile.TemporaryDirectory()
    os.environ["PORTRAIT_STORE_METADATA_URL"] = f"sqlite:///{meta.name}/bench.db"
    try:
        ws = portrait.open(args.workdir)
        rule = args.audience or _about_a_million(ws)
        size = ws.count(rule)["size"]
        stamp = time.strftime("%H%M%S")
        facts = base_facts(duckdb.connect())
        print(f"# Campaigns: {facts['cpu']}, {facts['nproc']} cores, {facts['ram']}")
        print()
        print(
            f"audience `{rule}`: {size:,} users of {ws.count('age >= 0')['population']:,}; "
            f"batches of {args.batch_size}"
        )
        print()
        results: list[dict[str, Any]] = []

        def spec(name: str, channel: str) -> dict[str, Any]:
            return {
                "name": name,
                "audience": rule,
                "channel": channel,
                "control": 10,
                "variants": [
                    {"name": "A", "weight": 45, "template": TEMPLATE_A},
                    {"name": "B", "weight": 45, "template": TEMPLATE_B},
                ],
            }

        campaigns = ws.campaigns()

        def step(label: str, run: Any, note: Any) -> None:
            """Time ``run()`` once and record it with ``note(result)``."""
            t = time.perf_counter()
            result = run()
            seconds = time.perf_counter() - t
            results.append({"step": label, "seconds": seconds, "users": size, "note": note(result)})

        def sent(report: Any) -> str:
            return f"{report.sent:,} sent, {report.suppressed:,} capped"

        name = f"bench_{stamp}_file"
        campaigns.create(spec(name, "file"))
        step(
            "dry run (assign, cap, render all)",
            lambda: campaigns.dry_run(name).to_dict(),
            lambda plan: f"{plan['rendered']:,} rendered",
        )
        step("launch, file channel", lambda: campaigns.launch(name), sent)
        if receiver is not None:
            hook = f"bench_{stamp}_hook"
            campaigns.create(spec(hook, "hook"))
            step("launch, webhook channel", lambda: campaigns.launch(hook), sent)
        with tempfile.TemporaryDirectory() as tmp:
            seconds, n = baseline(ws, rule, Path(tmp) / "out.jsonl")
        results.append(
            {
                "step": "hand-written (pyarrow + hashlib + Jinja2 → JSON lines)",
                "seconds": seconds,
                "users": n,
                "note": "no records, caps or resume",
            }
        )
    finally:
        if original is None:
            toml.unlink(missing_ok=True)
        else:
            toml.write_text(original, encoding="utf-8")
        meta.cleanup()
        if receiver is not None:
            stop.set()
            received = port_queue.get(timeout=30)
            receiver.join(timeout=10)
            print(
                f"receiver got {received['messages']:,} messages in {received['batches']:,} requests"
            )
            print()

    print("| step | seconds | users/s | |")
    print("|---|---:|---:|---|")
    for r in results:
        r["users_per_second"] = r["users"] / r["seconds"] if r["seconds"] else None
        print(f"| {r['step']} | {r['seconds']:.1f} | {r['users_per_second']:,.0f} | {r['note']} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print()
    print(f"peak RSS {peak / 2**30:.2f} GiB; metadata database: a fresh SQLite file")
    write_results(
        RESULTS,
        "campaigns",
        {
            "facts": facts,
            "rule": rule,
            "audience": size,
            "batch_size": args.batch_size,
            "results": results,
        },
    )


def _about_a_million(ws: Any) -> str:
    """An age range selecting about 1M users (or everyone in a smaller workspace)."""
    population = ws.count("age >= 0")["population"]
    if population <= 1_000_000:
        return "age >= 0"
    best = "age >= 0"
    best_gap = float("inf")
    for low in range(18, 60):
        for high in range(low, min(low + 12, 70)):
            rule = f"age between {low} and {high}"
            gap = abs(ws.count(rule)["size"] - 1_000_000)
            if gap < best_gap:
                best, best_gap = rule, gap
            if gap < 20_000:
                return rule
    return best


if __name__ == "__main__":
    main()
