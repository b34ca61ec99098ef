"""Lists that stay flat: the admin's whole-deployment lists at 10^2 and 10^4 items.

    .venv/bin/python -m bench.lists [--sizes 100,1000,10000] [--repeat 5] [--no-write]

For each size, a fresh SQLite database gets that many users with one workspace each (bench's
scale seed: stats, build logs, dev URLs), then a child process answers `GET /api/v0/workspaces`
and `GET /api/v0/users` as the site admin through the Flask test client (the whole request path:
auth, arguments, SQL, JSON) and reports the median time of `--repeat` requests, the answer's size
and the peak memory Python allocated while one request was answered and sent
(tracemalloc, chunk by chunk as a server writes it). Cost per item should not grow with
the list (goal: ≤ 1.2x from 10^2 to 10^4) and memory should stay bounded (the answer streams).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench import report
from bench.scale import app_config, run_child

ROOT = Path(__file__).resolve().parent.parent
ROUTES = (("workspaces", "/api/v0/workspaces"), ("users", "/api/v0/users"))
GOAL = 1.2


def child(config_json: str, token: str, repeat: int) -> None:
    """Answer each route `repeat` times; print JSON {route: {ms, bytes, items, rss_kib}}."""
    from app import create_app

    client = create_app(json.loads(config_json)).test_client()
    headers = {"Session-Token": token}
    result = {}
    for name, path in ROUTES:
        client.get(path, headers=headers)  # warm: imports, prepared statements
        tracemalloc.start()
        size = items = 0
        response = client.get(path, headers=headers, buffered=False)
        for chunk in response.response:  # as a server sends it: chunk by chunk, none kept
            size += len(chunk)
            items += chunk.count(b'"id":')
        response.close()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(path, headers=headers, buffered=False)
            for _chunk in response.response:
                pass
            response.close()
            samples.append((time.perf_counter() - started) * 1000)
        result[name] = {
            "ms": statistics.median(samples),
            "bytes": size,
            "items": items,
            "peak_kib": peak // 1024,
        }
    print(json.dumps(result))


def measure(size: int, repeat: int) -> dict:
    from app import create_app, db
    from bench import scale_seed

    with tempfile.TemporaryDirectory(prefix="pycoderd-lists-") as workdir:
        config = app_config(Path(workdir), "lists.sqlite3")
        create_app(config)
        db.upgrade()
        with db.database.connection_context():
            seeded = scale_seed.seed(
                db.database,
                {"users": size, "audit": 0, "drivers": 1, "workspaces_per_user": 1},
            )
        db.close()
        return run_child(
            "bench.lists", "--child", json.dumps(config), seeded["admin"]["token"], str(repeat)
        )


def render(results: dict, command: str) -> str:
    sizes = sorted(results)
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; date {dt.date.today().isoformat()}; SQLite; in-process "
        "(Flask test client), median of the repeats; load average "
        + " / ".join(f"{v:.2f}" for v in os.getloadavg())
        + ".",
        "",
        "| list | items | ms | µs per item | bytes | peak Python memory KiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, _ in ROUTES:
        for size in sizes:
            r = results[size][name]
            lines.append(
                f"| {name} | {r['items']:,} | {r['ms']:.1f} | {1000 * r['ms'] / r['items']:.1f} "
                f"| {r['bytes']:,} | {r['peak_kib']:,} |"
            )
    lines.append("")
    small, large = sizes[0], sizes[-1]
    for name, _ in ROUTES:
        a, b = results[small][name], results[large][name]
        ratio = (b["ms"] / b["items"]) / (a["ms"] / a["items"])
        verdict = "met" if ratio <= GOAL else "NOT met"
        lines.append(
            f"- {name}: cost per item at {b['items']:,} / at {a['items']:,} = {ratio:.2f} "
            f"(goal ≤ {GOAL}: {verdict}); peak memory "
            + " → ".join(f"{results[size][name]['peak_kib']:,}" for size in sizes)
            + " KiB (one batch of app.services.paging at most, from 500 items on)."
        )
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = {int(size): measure(int(size), args.repeat) for size in args.sizes.split(",")}
    text = render(results, ".venv/bin/python -m bench.lists " + " ".join(sys.argv[1:]))
    print(text)
    if not args.no_write:
        report.write_section("Lists that stay flat", text)


if __name__ == "__main__":
    main()
