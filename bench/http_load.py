"""HTTP overhead: pycoderd against a bare Flask endpoint on the same gunicorn configuration.

    .venv/bin/python -m bench.http_load [--duration 10] [--connections 16]

Both servers run with pycoderd's gunicorn settings (2 gthread workers); wrk loads them from a
second process over loopback. Reported: requests/s and p50/p99 latency as ratios to the bare
endpoint, SQL queries per request, and worker memory after 10^4 and 2x10^4 mixed requests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench import report

ROOT = Path(__file__).resolve().parent.parent

# name, candidate paths (the first one the app documents is used), authenticated, goal
# (throughput ratio to bare: issue 19's raised goals). Fallbacks keep `make bench` running while
# routes are still landing.
TARGET_CANDIDATES = (
    ("buildinfo", ("/api/v2/buildinfo", "/api/v2/"), False, 0.9),
    ("users/me (authenticated)", ("/api/v0/users/me",), True, 0.7),
    (
        "50-item list (authenticated)",
        ("/api/v0/users", "/api/v2/users/me/keys/tokens", "/api/v0/api-keys/me"),
        True,
        0.45,
    ),
)


def served_paths() -> set[str]:
    """GET paths of both OpenAPI documents, with `{user}`-style parameters filled with `me`."""
    from app import create_app

    client = create_app().test_client()
    paths = set()
    for version in ("v0", "v2"):
        document = client.get(f"/api/{version}/openapi.json").get_json()
        for path, operations in document["paths"].items():
            if "get" in operations:
                paths.add(re.sub(r"\{[^}]+\}", "me", path))
    return paths


def choose_targets(served: set[str]) -> list[tuple[str, str, bool, float]]:
    """(name, path, authenticated, goal) for every target some candidate of which is served."""
    chosen = []
    for name, candidates, authenticated, goal in TARGET_CANDIDATES:
        for path in candidates:
            if path in served or path.rstrip("/") in served:
                chosen.append((f"GET {path} ({name})", path, authenticated, goal))
                break
    return chosen


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(env: dict) -> str:
    """Migrate; make an admin, 49 more users and 50 named tokens of the admin's; return one."""
    os.environ.update(env)
    from app import create_app, db
    from app.services import api_keys, users
    from app.services.context import Caller

    create_app()
    db.upgrade()
    caller = Caller(user=None, user_agent="bench")
    with db.database.connection_context():
        admin = users.create(
            caller, username="admin", email="admin@example.com", roles=["site-admin"]
        )
        for n in range(49):
            users.create(caller, username=f"user{n}", email=f"user{n}@example.com")
        for n in range(49):
            api_keys.create(caller, admin, lifetime_seconds=86400, token_name=f"bench{n}")
        token = api_keys.create(caller, admin, lifetime_seconds=86400, token_name="bench").token
    db.close()
    return token


def start(kind: str, env: dict, prefix: tuple = ()) -> tuple[subprocess.Popen, str]:
    """Serve `kind` (bench.serve) on a free port, its command after `prefix` (e.g. taskset)."""
    port = free_port()
    env = {**env, "CODER_HTTP_ADDRESS": f"127.0.0.1:{port}"}
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "bench.serve", kind],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(url + "/healthz", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"{kind} server did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def workers_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time of a gunicorn master's worker processes."""
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def run_wrk(url: str, duration: int, connections: int, headers: dict, servers: dict) -> dict:
    """wrk's numbers, plus the CPU ms per request each server's workers spent (`servers`:
    name -> gunicorn master pid): unlike req/s, that hardly depends on other load."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    before = {name: workers_cpu_seconds(pid) for name, pid in servers.items()}
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    result = wrk_parse(output)
    done = int(re.search(r"(\d+) requests in", output).group(1))
    result["cpu_ms"] = {
        name: (workers_cpu_seconds(pid) - before[name]) * 1000 / max(1, done)
        for name, pid in servers.items()
    }
    return result


def wrk_parse(output: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", output)
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[transfer.group(2)]
    latency = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        latency[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": rps,
        "mbps": float(transfer.group(1)) * scale,
        "p50": latency["50"],
        "p99": latency["99"],
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def queries_per_request(env: dict, token: str, targets) -> dict:
    """SQL statements per request, counted in-process on the same database."""
    os.environ.update(env)
    from playhouse.test_utils import count_queries

    from app import create_app

    client = create_app().test_client()
    counts = {}
    for name, path, authenticated, _ in targets:
        headers = {"Session-Token": token} if authenticated else {}
        client.get(path, headers=headers)  # warm: bookkeeping writes happen at most hourly
        with count_queries() as counter:
            status = client.get(path, headers=headers).status_code
        counts[name] = (counter.count, status)
    return counts


def worker_rss_kib(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def memory_growth(url: str, master_pid: int, token: str, targets) -> list[tuple[int, int]]:
    session = requests.Session()
    session.headers["Session-Token"] = token
    paths = [path for _, path, _, _ in targets] + ["/api/v2/", "/api/v0/nope"]
    readings = [(0, worker_rss_kib(master_pid))]
    done = 0
    for target in (10_000, 20_000):
        while done < target:
            session.get(url + paths[done % len(paths)], timeout=10)
            done += 1
        readings.append((done, worker_rss_kib(master_pid)))
    return readings


def _loadavg(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="pycoderd-bench-"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CODER_SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "CODER_SECRET_KEY": "bench-secret",
        "CODER_LOGGING_HUMAN": "",
        "CODER_GUNICORN_WORKERS": "2",
        "CODER_DANGEROUS_DISABLE_RATE_LIMITS": "true",
        "CODER_UPDATE_CHECK": "false",  # benchmarks never leave loopback
    }
    token = seed(env)
    targets = choose_targets(served_paths())
    queries = queries_per_request(env, token, targets)
    load_before = os.getloadavg()

    # Both servers run side by side; each endpoint's run is paired with a bare run just before
    # it, so a change in the machine's load (it is shared) hits both sides of each ratio.
    bare_process, bare_url = start("bare", env)
    process, url = start("pycoderd", env)
    try:
        runs = {name: [] for name, *_ in targets}
        for _ in range(args.rounds):
            for name, path, authenticated, _ in targets:
                base = run_wrk(
                    bare_url + "/bare",
                    args.duration,
                    args.connections,
                    {},
                    {"server": bare_process.pid},
                )
                measured = run_wrk(
                    url + path,
                    args.duration,
                    args.connections,
                    {"Session-Token": token} if authenticated else {},
                    {"server": process.pid},
                )
                runs[name].append((base, measured))
        memory = memory_growth(url, process.pid, token, targets)
    finally:
        stop(process)
        stop(bare_process)
    load_after = os.getloadavg()

    missing = [name for name, *_ in TARGET_CANDIDATES if not any(name in t[0] for t in targets)]
    lines = [
        f"Command: `make bench` (or `.venv/bin/python -m bench.http_load --duration "
        f"{args.duration} --rounds {args.rounds} --connections {args.connections}`)  ",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; date {dt.date.today().isoformat()}; SQLite; both servers "
        f"with pycoderd's gunicorn settings (2 gthread workers x 12 threads, rate limits off); "
        f"wrk -t2 -c{args.connections} -d{args.duration}s from a second process on loopback.  ",
        f"Load average (1/5/15 min) before: {_loadavg(load_before)}; after: "
        f"{_loadavg(load_after)} (the 2 cores are shared with other work, which is why every "
        f"endpoint run is paired with a bare run and the median of {args.rounds} pairs is shown).",
        "",
        "| endpoint | req/s | bare req/s | ratio (median) | goal | p50 ms (x bare) "
        "| p99 ms (x bare) | non-2xx | SQL/request | CPU ms/request (bare) | CPU ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, _, _, goal in targets:
        pairs = runs[name]
        ratio = statistics.median(m["rps"] / b["rps"] for b, m in pairs)
        rps = statistics.median(m["rps"] for _, m in pairs)
        bare_rps = statistics.median(b["rps"] for b, _ in pairs)
        p50 = statistics.median(m["p50"] for _, m in pairs)
        p99 = statistics.median(m["p99"] for _, m in pairs)
        p50x = statistics.median(m["p50"] / b["p50"] for b, m in pairs)
        p99x = statistics.median(m["p99"] / b["p99"] for b, m in pairs)
        errors = sum(m["errors"] for _, m in pairs)
        cpu = statistics.median(m["cpu_ms"]["server"] for _, m in pairs)
        bare_cpu = statistics.median(b["cpu_ms"]["server"] for b, _ in pairs)
        count, status = queries[name]
        verdict = "met" if ratio >= goal and errors == 0 else "NOT met"
        lines.append(
            f"| {name} | {rps:.0f} | {bare_rps:.0f} | {ratio:.2f} | ≥ {goal} ({verdict}) | "
            f"{p50:.2f} ({p50x:.1f}x) | {p99:.2f} ({p99x:.1f}x) | {errors} | "
            f"{count} (status {status}) | {cpu:.2f} ({bare_cpu:.2f}) | {bare_cpu / cpu:.2f} |"
        )
    if missing:
        lines += ["", "Not measured yet (no such route served): " + ", ".join(missing) + "."]
    lines += [
        "",
        "CPU ms/request is the user+system time the server's workers spent per request during "
        "the run (from /proc), next to the bare server's in the paired run; wrk's own CPU and "
        "the other load on the shared cores are not in it, so it moves far less between runs "
        "than req/s does. CPU ratio: the bare server's CPU per request over pycoderd's (what the "
        "throughput ratio would be on an otherwise idle machine, wrk's own share aside).",
        "",
        "Worker memory (sum of RSS over the 2 workers) during mixed requests:",
        "",
        "| requests served | RSS KiB |",
        "| --- | --- |",
    ]
    lines += [f"| {n} | {kib} |" for n, kib in memory]
    growth = memory[2][1] - memory[1][1]
    lines.append("")
    lines.append(f"Growth between 10^4 and 2x10^4 requests: {growth} KiB.")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        report.write_section("HTTP overhead", text)


if __name__ == "__main__":
    main()
