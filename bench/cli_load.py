"""Scale: the classic CLI's request mix at rising constant rates on a Coder-sized deployment.

    .venv/bin/python -m bench.cli_load [--backends sqlite,postgres] [--rates 50,100,150,200,300]
                                       [--step 15] [--small] [--no-write]

Seeds (bench.scale_seed) 20 organizations, 2,000 users, 10,000 workspaces with stats and build
logs, 2,000 dev URLs, 10^6 audit entries and a year of activity; serves them with pycoderd's
gunicorn settings pinned to CPU 0 (`taskset`); and drives, from this process pinned to CPU 1, an
open-loop load: requests are sent at their scheduled times whatever the answers do (a queue of
threads, latency counted from the scheduled time, so a slow server cannot slow the load down —
no coordinated omission). 200 users with API keys make the CLI's mix (`users/me`, `orgs`, their
workspaces, one workspace, their org's images, a workspace's dev URLs, activity pushes where the
route is served, and writes: rebuild, dev URL create + delete, key create); a site admin reads the
audit log every 2 s, the user list every 5 s and the workspace list (10,000) every 10 s, whatever
the rate. Each rate runs `--step` seconds; the run stops after the first rate whose p95 passes
300 ms or whose errors pass 1%. The server's CPU is read from /proc for its whole process tree.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime as dt
import os
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

from bench import report
from bench.http_load import start, stop
from bench.scale import PG_URL, _pg_admin, _pg_answers

ROOT = Path(__file__).resolve().parent.parent
P95_LIMIT_MS = 300.0
ERROR_LIMIT = 0.01
GOAL_PER_CORE = 150
ADMIN_EVERY = (
    ("admin: GET audit page", "/api/v0/audit", 2.0),
    ("admin: GET users (all)", "/api/v0/users", 5.0),
    ("admin: GET workspaces (all)", "/api/v0/workspaces", 10.0),
)


def _mix(push_served: bool):
    """(route name, weight, builder(driver, rng) -> [(method, path, body)])."""
    mix = [
        ("GET users/me", 20, lambda d, r: [("GET", "/api/v0/users/me", None)]),
        ("GET orgs", 10, lambda d, r: [("GET", "/api/v0/orgs", None)]),
        (
            "GET workspaces?orgs=&users=",
            15,
            lambda d, r: [
                (
                    "GET",
                    f"/api/v0/workspaces?orgs={d['organization_id']}&users={d['user_id']}",
                    None,
                )
            ],
        ),
        (
            "GET workspace",
            15,
            lambda d, r: [("GET", f"/api/v0/workspaces/{r.choice(d['workspaces'])}", None)],
        ),
        (
            "GET images?org=",
            8,
            lambda d, r: [("GET", f"/api/v0/images?org={d['organization_id']}", None)],
        ),
        (
            "GET workspace devurls",
            8,
            lambda d, r: [("GET", f"/api/v0/workspaces/{d['workspaces'][0]}/devurls", None)],
        ),
        (
            "PATCH workspace {} (rebuild)",
            2,
            lambda d, r: [("PATCH", f"/api/v0/workspaces/{r.choice(d['workspaces'])}", {})],
        ),
        ("POST devurl, DELETE it", 3, _devurl_round_trip),
        (
            "POST api key",
            2,
            lambda d, r: [("POST", f"/api/v0/api-keys/{d['user_id']}", {"name": _name(r)})],
        ),
    ]
    if push_served:
        mix.append(
            (
                "POST usage push",
                10,
                lambda d, r: [
                    (
                        "POST",
                        "/api/private/metrics/usage/push",
                        {"source": "coder-cli", "workspace_id": r.choice(d["workspaces"])},
                    )
                ],
            )
        )
    return mix


def _name(rng) -> str:
    return f"bench{rng.getrandbits(48):012x}"


def _devurl_round_trip(driver, rng):
    workspace = driver["workspaces"][1]
    body = {"port": rng.randrange(20000, 60000), "name": _name(rng), "access": "PRIVATE"}
    return [
        ("POST", f"/api/v0/workspaces/{workspace}/devurls", body),
        ("DELETE", f"/api/v0/workspaces/{workspace}/devurls/{{id}}", None),
    ]


class Driver:
    """Open-loop sender: `run(rate, seconds)` returns [(route, latency ms, ok)]."""

    def __init__(self, url: str, seeded: dict, push_served: bool, threads: int = 96):
        self.url = url
        self.seeded = seeded
        self.mix = _mix(push_served)
        self.weights = [weight for _, weight, _ in self.mix]
        self.local = threading.local()
        self.pool = concurrent.futures.ThreadPoolExecutor(threads)

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def _send(self, route, token, calls, scheduled, results):
        session = self._session()
        ok, created = True, None
        for method, path, body in calls:
            if "{id}" in path:
                if created is None:
                    break
                path = path.replace("{id}", created)
            try:
                response = session.request(
                    method,
                    self.url + path,
                    json=body,
                    timeout=30,
                    headers={"Session-Token": token},
                )
                ok = ok and response.status_code < 400
                if method == "POST" and response.ok and "devurls" in path:
                    created = response.json()["id"]
            except requests.RequestException:
                ok = False
        results.append((route, (time.perf_counter() - scheduled) * 1000, ok))

    def run(self, rate: float, seconds: float, rng: random.Random):
        drivers, admin = self.seeded["drivers"], self.seeded["admin"]
        schedule = []
        for n in range(int(rate * seconds)):
            route, _, build = rng.choices(self.mix, self.weights)[0]
            driver = rng.choice(drivers)
            schedule.append((n / rate, route, driver["token"], build(driver, rng)))
        for route, path, every in ADMIN_EVERY:
            schedule += [
                (k * every, route, admin["token"], [("GET", path, None)])
                for k in range(int(seconds / every))
            ]
        schedule.sort(key=lambda item: item[0])
        results: list = []
        started = time.perf_counter()
        futures = []
        for offset, route, token, calls in schedule:
            delay = started + offset - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(
                self.pool.submit(self._send, route, token, calls, started + offset, results)
            )
        concurrent.futures.wait(futures)
        return results, time.perf_counter() - started


def _tree_cpu_seconds(pid: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0, [str(pid)]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += (task / "children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / tick


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _summary(results) -> dict:
    latencies = [ms for _, ms, _ in results]
    errors = sum(1 for *_, ok in results if not ok)
    per_route = collections.defaultdict(list)
    for route, ms, ok in results:
        per_route[route].append((ms, ok))
    return {
        "count": len(results),
        "errors": errors,
        "p50": _percentile(latencies, 0.50),
        "p95": _percentile(latencies, 0.95),
        "p99": _percentile(latencies, 0.99),
        "routes": {
            route: {
                "count": len(items),
                "errors": sum(1 for _, ok in items if not ok),
                "p50": _percentile([ms for ms, _ in items], 0.50),
                "p95": _percentile([ms for ms, _ in items], 0.95),
                "p99": _percentile([ms for ms, _ in items], 0.99),
            }
            for route, items in sorted(per_route.items())
        },
    }


def run_backend(backend: str, rates: list[int], step: float, small: bool, workdir: Path) -> dict:
    from app import create_app, db
    from bench import scale_seed

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CODER_SECRET_KEY": "bench-secret-key",
        "CODER_LOGGING_HUMAN": "",
        "CODER_SQLITE_PATH": str(workdir / f"{backend}.sqlite3"),
        "CODER_DANGEROUS_DISABLE_RATE_LIMITS": "true",
        "CODER_UPDATE_CHECK": "false",
    }
    scratch = None
    if backend == "postgres":
        scratch = f"pycoderd_load_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{scratch}"')
        env["CODER_PG_CONNECTION_URL"] = PG_URL.rsplit("/", 1)[0] + f"/{scratch}"
    config = {
        "IGNORE_ENV": True,
        "INSTANCE_PATH": str(workdir / "instance"),
        **{k: v for k, v in env.items() if k.startswith("CODER_")},
    }
    process = None
    try:
        create_app(config)
        db.upgrade()
        started = time.perf_counter()
        sizes = {"users": 200, "audit": 10_000, "drivers": 50} if small else None
        with db.database.connection_context():
            seeded = scale_seed.seed(db.database, sizes)
        seed_seconds = time.perf_counter() - started
        if hasattr(db.database.obj, "close_all"):
            db.database.obj.close_all()
        pin = ("taskset", "-c", "0") if (os.cpu_count() or 1) >= 2 else ()
        process, url = start("pycoderd", env, pin)
        probe = requests.post(
            url + "/api/private/metrics/usage/push",
            timeout=10,
            json={"source": "bench", "workspace_id": seeded["drivers"][0]["workspaces"][0]},
            headers={"Session-Token": seeded["drivers"][0]["token"]},
        )
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(0, {1})
        driver = Driver(url, seeded, push_served=probe.status_code < 400)
        rng = random.Random(150)
        driver.run(10, 5, rng)  # warm-up: connections, caches
        steps = []
        for rate in rates:
            cpu_before = _tree_cpu_seconds(process.pid)
            results, wall = driver.run(rate, step, rng)
            cpu = _tree_cpu_seconds(process.pid) - cpu_before
            summary = _summary(results)
            summary.update(rate=rate, achieved=summary["count"] / wall, cores=cpu / wall)
            steps.append(summary)
            print(
                f"{backend} {rate}/s: p50 {summary['p50']:.0f} p95 {summary['p95']:.0f} "
                f"p99 {summary['p99']:.0f} ms, errors {summary['errors']}, "
                f"server CPU {summary['cores']:.2f} cores",
                flush=True,
            )
            if summary["p95"] > P95_LIMIT_MS or summary["errors"] > ERROR_LIMIT * summary["count"]:
                break
        return {
            "steps": steps,
            "counts": seeded["counts"],
            "seed_seconds": seed_seconds,
            "push": probe.status_code < 400,
        }
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        if process is not None:
            stop(process)
        if scratch:
            _pg_admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _held(steps: list[dict]) -> dict | None:
    held = [
        s for s in steps if s["p95"] <= P95_LIMIT_MS and s["errors"] <= ERROR_LIMIT * s["count"]
    ]
    return held[-1] if held else None


def render(results: dict, command: str, load_before, load_after, step: float) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; date {dt.date.today().isoformat()}; pycoderd with its "
        "gunicorn settings (2 gthread workers) pinned to CPU 0, the load generator to CPU 1; "
        f"{step:g} s per rate.  ",
        "Load average (1/5/15 min) before: "
        + " / ".join(f"{v:.2f}" for v in load_before)
        + "; after: "
        + " / ".join(f"{v:.2f}" for v in load_after)
        + ".",
        "",
    ]
    for backend, result in results.items():
        counts = ", ".join(f"{v:,} {k}" for k, v in result["counts"].items())
        held = _held(result["steps"])
        verdict = "NOT met"
        per_core = 0.0
        if held:
            per_core = held["achieved"] / max(held["cores"], 1e-9)
            verdict = "met" if held["achieved"] >= GOAL_PER_CORE else "NOT met"
        lines += [
            f"### {backend}",
            "",
            f"Seeded in {result['seed_seconds']:.0f} s: {counts}. Activity pushes "
            + ("in the mix." if result["push"] else "not served yet, left out of the mix."),
            "",
            "| offered req/s | achieved | p50 ms | p95 ms | p99 ms | errors | server CPU (cores) "
            "| req/s per busy core |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in result["steps"]:
            lines.append(
                f"| {s['rate']} | {s['achieved']:.0f} | {s['p50']:.0f} | {s['p95']:.0f} | "
                f"{s['p99']:.0f} | {s['errors']} | {s['cores']:.2f} | "
                f"{s['achieved'] / max(s['cores'], 1e-9):.0f} |"
            )
        lines += [
            "",
            f"Highest rate held (p95 ≤ {P95_LIMIT_MS:.0f} ms, errors ≤ 1%): "
            + (
                f"{held['achieved']:.0f} req/s on one pinned core ({per_core:.0f} per busy "
                f"core-second); goal ≥ {GOAL_PER_CORE} per core: {verdict}."
                if held
                else f"none; goal ≥ {GOAL_PER_CORE} per core: NOT met."
            ),
            "",
        ]
        shown = held or result["steps"][0]
        lines += [
            f"Per route at {shown['rate']} req/s offered:",
            "",
            "| route | requests | errors | p50 ms | p95 ms | p99 ms |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for route, r in shown["routes"].items():
            lines.append(
                f"| {route} | {r['count']} | {r['errors']} | {r['p50']:.0f} | "
                f"{r['p95']:.0f} | {r['p99']:.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--rates", default="50,100,150,200,250,300,400")
    parser.add_argument("--step", type=float, default=15)
    parser.add_argument("--small", action="store_true", help="a tenth of the data (a smoke run)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    backends = [b for b in args.backends.split(",") if b != "postgres" or _pg_answers()]
    load_before = os.getloadavg()
    results = {}
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="pycoderd-load-") as workdir:
            results[backend] = run_backend(backend, rates, args.step, args.small, Path(workdir))
    command = ".venv/bin/python -m bench.cli_load " + " ".join(sys.argv[1:])
    text = render(results, command.strip(), load_before, os.getloadavg(), args.step)
    print(text)
    if not args.no_write and not args.small:
        report.write_section("Scale: the classic CLI's mix on a Coder-sized deployment", text)


if __name__ == "__main__":
    main()
