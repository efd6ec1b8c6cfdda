"""HTTP API benchmark: the personalisation interface and audience counts under load.

A report, not a pass/fail test; bounded load against 127.0.0.1 only. On an existing workspace
(``--workdir``, e.g. the 10M-user demo; never rebuilt) it makes sure ``--segments`` saved
segments named ``api_bench_NN`` exist (creating the missing ones: ages, cities, genders,
education and their combinations, from a few thousand to a few million users), creates an
analyst API key, starts ``portrait serve --workers W`` and drives it with **wrk** (installed with
apt-get when run as root), each connection walking a shuffled list of real user ids:

1. ``GET /v1/users/{id}/segments``: a fixed count of requests (``--requests``) over
   ``--connections`` keep-alive connections; throughput, p50/p90/p99/max latency, errors.
2. ``POST /v1/count`` of a 5-condition rule (two ``in`` lists, a range, ``not segment(...)``, an
   equality), one connection, one request at a time: end-to-end latency as a caller sees it.
   The range's bounds change with every request (690 different rules), so answers do not come
   from the evaluation cache.
3. The same user-segments load on two more servers with the same uvicorn and workers:
   **the framework route** (``create_app(fast_path=False)``: every request through FastAPI's
   routing, dependency solving and response validation, as before the fast path) and **the
   floor**, a bare Starlette app answering a fixed JSON body (what the HTTP stack alone allows
   on this machine).

The three servers run side by side and the user-segments loads take turns, ``--rounds``
times, so a change in the machine's speed (a shared VM's neighbours) falls on all three; the
summary gives each one's median. The load generator shares the machine's cores with the
servers: on 2 cores they compete.

Usage::

    .venv/bin/python bench/api_bench.py --workdir /path/to/ws [--segments 50]
        [--requests 40000] [--connections 16] [--workers 2] [--rounds 3]

Targets (reported, never enforced): user segments >= 2,000 requests/s with 2 workers, p99 <=
20 ms, zero errors; the count p50 <= 15 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import portrait
from benchlib import base_facts, write_results

RESULTS = Path(__file__).resolve().parent / "results"
VENV_BIN = Path(sys.executable).parent

# wrk: every connection walks its own slice of the id list; each thread stops after its share
# of the fixed request count; non-2xx answers are counted; the summary is one JSON line.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *out);
]]
local function now()  -- CLOCK_MONOTONIC: wrk's own duration includes the idle tail
  local t = ffi.new("bench_timespec"); ffi.C.clock_gettime(1, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) / 1e9
end
local ids, per_thread, body = {}, tonumber(os.getenv("BENCH_PER_THREAD")), nil
local path_pattern = os.getenv("BENCH_PATH")
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end
function init(args)
  at, answered, bad = offset, 0, 0
  local file = os.getenv("BENCH_BODY")
  if file ~= nil and file ~= "" then
    local f = io.open(file, "rb"); body = f:read("*a"); f:close()
  end
end
function request()
  if first == nil then first = now() end
  at = at + 1
  local path = path_pattern:gsub("{id}", ids[(at % #ids) + 1])
  if body then  -- {low}/{high} in the body: a different rule each time (no cached answers)
    local low = 18 + at % 23
    local high = 41 + math.floor(at / 23) % 30
    local text = body:gsub("{low}", tostring(low)):gsub("{high}", tostring(high))
    local headers = {["Content-Type"] = "application/json"}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    return wrk.format("POST", path, headers, text)
  end
  return wrk.format("GET", path)
end
function response(status, headers, resp_body)
  answered = answered + 1
  last = now()
  if status < 200 or status > 299 then bad = bad + 1 end
  if answered >= per_thread then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local bad_total, start, stop = 0, nil, nil
  for _, t in ipairs(threads) do
    bad_total = bad_total + (t:get("bad") or 0)
    local f, l = t:get("first"), t:get("last")
    if f and (start == nil or f < start) then start = f end
    if l and (stop == nil or l > stop) then stop = l end
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "errors_socket": %d, "non_2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, (stop or 0) - (start or 0),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    bad_total, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""

FLOOR_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def segments(request):
    return JSONResponse({"user_id": request.path_params["user_id"], "segments": ["a", "b"]})


app = Starlette(routes=[Route("/v1/users/{user_id}/segments", segments)])
"""

FRAMEWORK_APP = """
from pathlib import Path

from portrait.api.app import create_app

app = create_app(Path({root!r}), fast_path=False)
"""


def _wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _segment_rules(ws: Any, count: int) -> dict[str, str]:
    """``count`` segment rules of varied sizes over the demo's tags."""
    con = duckdb.connect()
    profile = str(ws.built.profile_file)

    def top(column: str, n: int) -> list[str]:
        rows = con.execute(
            f"SELECT {column} FROM read_parquet(?) WHERE {column} IS NOT NULL "
            f"GROUP BY 1 ORDER BY count(*) DESC LIMIT {n}",
            [profile],
        ).fetchall()
        return [str(r[0]) for r in rows]

    cities, genders, education = top("city", 12), top("gender", 2), top("education", 5)
    rules: list[str] = [f"age between {18 + 3 * i} and {20 + 3 * i}" for i in range(12)]
    rules += [f'city = "{c}"' for c in cities]
    rules += [f'city = "{c}" and age < 30' for c in cities[:8]]
    rules += [f'gender = "{g}" and age between 25 and 34' for g in genders]
    rules += [f'education = "{e}"' for e in education]
    rules += [f'education = "{e}" and city in ("{cities[0]}", "{cities[1]}")' for e in education]
    rules += [f"work_years >= {k}" for k in (1, 3, 5, 10, 15, 20)]
    while len(rules) < count:
        rules.append(f"age between {20 + len(rules) % 30} and {22 + len(rules) % 30}")
    return {f"api_bench_{i:02d}": rule for i, rule in enumerate(rules[:count])}


def _serve(command: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_ready(
    url: str, path: str, process: subprocess.Popen, log: Path, workers: int = 0
) -> float:
    """Seconds until ``path`` answered 200 ten times in a row and, for Portrait, every one of
    ``workers`` worker processes said it is ready (a worker still warming would hold up the
    connections it takes)."""
    started = time.perf_counter()
    streak = 0
    ready: set[int] = set()
    while streak < 10 or len(ready) < workers:
        if process.poll() is not None:
            raise SystemExit("the server stopped:\n" + log.read_text())
        if time.perf_counter() - started > 600:
            raise SystemExit("the server was not ready in 10 minutes:\n" + log.read_text())
        try:
            answer = httpx.get(url + path, timeout=30)  # a new connection: any worker
            ok = answer.status_code == 200
            if ok and workers:
                ready.add(answer.json()["worker"])
        except httpx.HTTPError:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.2)
    return time.perf_counter() - started


def _load(
    wrk: str,
    url: str,
    path: str,
    *,
    key: str | None,
    ids: Path,
    requests: int,
    connections: int,
    threads: int,
    body: Path | None = None,
    slowest: int = 1000,
) -> dict[str, Any]:
    script = Path(tempfile.mkdtemp()) / "bench.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    env = {
        **os.environ,
        "BENCH_IDS": str(ids),
        "BENCH_PATH": path,
        "BENCH_PER_THREAD": str(requests // threads),
        "BENCH_BODY": str(body or ""),
    }
    # wrk runs for its whole duration even when every thread has stopped: room for the fixed
    # count at ``slowest`` requests/s, without idling long after it (a shorter run is flagged
    # "complete": false)
    duration = 5 + requests // slowest
    command = [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "-s",
        str(script),
    ]
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    done = subprocess.run([*command, url], env=env, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["requests_per_second"] = summary["requests"] / summary["seconds"]
    summary["complete"] = summary["requests"] >= requests // threads * threads
    summary["settings"] = f"wrk -t{threads} -c{connections}, {requests:,} requests, keep-alive"
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--count-requests", type=int, default=500)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="user-segments loads per server")
    args = parser.parse_args()
    wrk = _wrk()
    # a SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the servers are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    ws = portrait.open(args.workdir)
    facts = base_facts(duckdb.connect())
    population = ws.count("age >= 0")["population"]
    wanted = _segment_rules(ws, args.segments)
    existing = set(ws.segments)
    started = time.perf_counter()
    for name, rule in wanted.items():
        if name not in existing:
            ws.segments.create(name, rule)
    setup_seconds = time.perf_counter() - started
    sizes = {s.name: s.size for s in ws.segments.all() if s.name in wanted}
    total_segments = len(list(ws.segments))
    _info, key = ws.keys.create("analyst", name="api-bench")
    rng = random.Random(7)
    sample = ws.user_ids_of(sorted(rng.sample(range(population), min(population, 20_000))))
    rng.shuffle(sample)
    work = Path(tempfile.mkdtemp(prefix="portrait-api-bench-"))
    ids = work / "ids.txt"
    ids.write_text("\n".join(sample) + "\n", encoding="utf-8")
    five = (
        'city in ("北京", "上海", "广州") and age_band in ("25-30", "30-35") '
        "and age between {low} and {high} "
        f'and not segment("{next(iter(wanted))}") and gender = "女"'
    )
    body = work / "count.json"  # {low}/{high} vary per request: 690 different rules
    body.write_text(json.dumps({"rule": five}, ensure_ascii=False), encoding="utf-8")
    example = five.replace("{low}", "26").replace("{high}", "45")
    print(f"# API benchmark: {population:,} users, {total_segments} saved segments")
    print(f"(created missing bench segments in {setup_seconds:.1f} s)")
    print(
        f"machine: {facts['cpu']}, {facts['nproc']} cores, {facts['ram']}; "
        f"server: portrait serve --workers {args.workers}; load: wrk on the same machine"
    )

    def user_segments(url: str, key: str | None, requests: int) -> dict[str, Any]:
        """The user-segments load, alike for Portrait and the floor."""
        return _load(
            wrk,
            url,
            "/v1/users/{id}/segments",
            key=key,
            ids=ids,
            requests=requests,
            connections=args.connections,
            threads=args.threads,
        )

    results: list[dict[str, Any]] = []
    env = {**os.environ, "PORTRAIT_WORKSPACE": str(args.workdir)}
    apps = work / "apps"
    apps.mkdir()
    (apps / "floor_app.py").write_text(FLOOR_APP, encoding="utf-8")
    framework_app = FRAMEWORK_APP.format(root=str(Path(args.workdir).resolve()))
    (apps / "framework_app.py").write_text(framework_app, encoding="utf-8")

    def uvicorn(module: str, port: int) -> list[str]:
        return [
            *(str(VENV_BIN / "uvicorn"), f"{module}:app", "--app-dir", str(apps)),
            *("--port", str(port), "--workers", str(args.workers)),
            *("--no-access-log", "--log-level", "warning"),
        ]

    commands: dict[str, Callable[[int], list[str]]] = {
        "Portrait": lambda port: [
            *(str(VENV_BIN / "portrait"), "serve", "--workers", str(args.workers)),
            *("--no-access-log", "--port", str(port)),
        ],
        "framework route": lambda port: uvicorn("framework_app", port),
        "floor": lambda port: uvicorn("floor_app", port),
    }
    servers: dict[str, tuple[str, subprocess.Popen, Path]] = {}
    try:
        for name, command in commands.items():
            port = _free_port()
            log = work / f"{name.replace(' ', '-')}.log"
            process = _serve(command(port), port, env, log)
            servers[name] = (f"http://127.0.0.1:{port}", process, log)
        for name, (url, process, log) in servers.items():
            if name == "floor":
                _wait_ready(url, f"/v1/users/{sample[0]}/segments", process, log)
            else:
                warm = _wait_ready(url, "/readyz", process, log, workers=args.workers)
                print(f"{name}: ready (caches warm) in {warm:.1f} s")
        url = servers["Portrait"][0]
        headers = {"Authorization": f"Bearer {key}"}
        answers = [
            httpx.get(f"{servers[n][0]}/v1/users/{sample[0]}/segments", headers=headers)
            for n in ("Portrait", "framework route")
        ]
        for answer in answers:
            answer.raise_for_status()
        assert answers[0].content == answers[1].content, "the two servers disagree"
        count_check = httpx.post(f"{url}/v1/count", json={"rule": example}, headers=headers)
        count_check.raise_for_status()
        print(f"5-condition rule, e.g. {example}: {count_check.json()['size']:,} users")
        for name, (server_url, _, _) in servers.items():  # warm-up: connections, code paths
            user_segments(server_url, None if name == "floor" else key, 2000)
        for round_ in range(1, args.rounds + 1):
            for name, (server_url, _, _) in servers.items():
                summary = user_segments(server_url, None if name == "floor" else key, args.requests)
                step = f"GET /v1/users/{{id}}/segments: {name}, round {round_}"
                results.append({"step": step, "server": name, "round": round_, **summary})
        summary = _load(
            wrk,
            url,
            "/v1/count",
            key=key,
            ids=ids,
            requests=args.count_requests,
            connections=1,
            threads=1,
            body=body,
            slowest=40,
        )
        step = "POST /v1/count (5 conditions), one at a time: Portrait"
        results.append({"step": step, "server": "Portrait", "round": 1, **summary})
    finally:
        for _, process, _ in servers.values():
            _stop(process)

    print()
    print("| request | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        errors = r["errors_socket"] + r["non_2xx"]
        print(
            f"| {r['step']} | {r['requests']:,} | {r['requests_per_second']:,.0f} | "
            f"{r['p50_us'] / 1e3:.2f} | {r['p90_us'] / 1e3:.2f} | {r['p99_us'] / 1e3:.2f} | "
            f"{r['max_us'] / 1e3:.1f} | {errors} |"
        )
    print()
    print(f"medians over {args.rounds} rounds of {args.requests:,} requests each:")
    print("| server | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    medians: dict[str, float] = {}
    for name in servers:
        runs = [r for r in results if r["server"] == name and r["step"].startswith("GET")]
        rate = statistics.median(r["requests_per_second"] for r in runs)
        medians[name] = rate
        p50 = statistics.median(r["p50_us"] for r in runs) / 1e3
        p99 = statistics.median(r["p99_us"] for r in runs) / 1e3
        errors = sum(r["errors_socket"] + r["non_2xx"] for r in runs)
        print(f"| {name} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {errors} |")
    print()
    print(
        f"Portrait answers {medians['Portrait'] / medians['framework route']:.2f}x the framework "
        f"route's requests/s and reaches {medians['Portrait'] / medians['floor']:.0%} of the bare "
        f"HTTP stack's; load settings: {results[0]['settings']}"
    )
    print(f"segment sizes: {min(sizes.values()):,} to {max(sizes.values()):,} users")
    write_results(
        RESULTS,
        f"api-{population}",
        {
            "facts": facts,
            "population": population,
            "segments": total_segments,
            "segment_sizes": sizes,
            "count_rule": five + " (low = 18 + i % 23, high = 41 + (i // 23) % 30)",
            "workers": args.workers,
            "results": results,
        },
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
