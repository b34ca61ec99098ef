"""Dev URL proxy: throughput and latency through pycoderd against direct access to the same app.

    .venv/bin/python -m bench.proxy [--duration 10] [--connections 16]

The upstream is a small Flask app (a stand-in for a workspace's dev server) on pycoderd's
gunicorn configuration; pycoderd serves it as a PUBLIC and as an AUTHED dev URL on the host
network. wrk loads each way in turn from a second process over loopback: small JSON answers
(requests/s, p50/p99) and 1 MiB bodies (MB/s). Goal: at least half the direct throughput.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.http_load import free_port, run_wrk, start, stop

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.5
BLOB = bytes(range(256)) * 4096  # 1 MiB


def create_upstream_app():
    from flask import Flask, Response, jsonify

    app = Flask("upstream")

    @app.get("/small")
    def small():
        return jsonify({"message": "hello from the workspace", "ok": True})

    @app.get("/blob")
    def blob():
        chunks = (BLOB[i : i + 65536] for i in range(0, len(BLOB), 65536))
        return Response(
            chunks, mimetype="application/octet-stream", headers={"Content-Length": str(len(BLOB))}
        )

    @app.get("/healthz")
    def healthz():
        return "OK"

    return app


def serve_upstream() -> None:
    from app import options
    from app.gunicorn_server import PycoderdServer, gunicorn_options

    class UpstreamServer(PycoderdServer):
        def load(self):
            return create_upstream_app()

    UpstreamServer({}, gunicorn_options(options.load())).run()


def seed(env: dict, port: int) -> str:
    """A workspace that is ON with a PUBLIC and an AUTHED dev URL on `port`; returns a token."""
    os.environ.update(env)
    from app import create_app, db
    from app.models import DevURL, Image, Registry, Workspace
    from app.services import addresses, api_keys, organizations, users
    from app.services.context import Caller

    create_app()
    db.upgrade()
    caller = Caller(user=None, user_agent="bench")
    with db.database.connection_context():
        owner = users.create(caller, username="bench", email="bench@example.com")
        organization = organizations.default_organization()
        registry = Registry.create(organization=organization, friendly_name="r", registry="r")
        image = Image.create(organization=organization, registry=registry, repository="i")
        for name, access in (("pub", "PUBLIC"), ("authed", "AUTHED")):
            workspace = Workspace.create(
                name=name,
                user=owner,
                organization=organization,
                image=image,
                container_status="ON",
                **addresses.workspace_names(name, owner.username),
            )
            DevURL.create(
                workspace=workspace,
                port=port,
                name=name,
                access=access,
                host_label=addresses.devurl_host_label(name, owner.username),
            )
        token = api_keys.create(caller, owner, lifetime_seconds=86400).token
    db.close()
    return token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream()
        return

    workdir = Path(tempfile.mkdtemp(prefix="pycoderd-bench-proxy-"))
    upstream_port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CODER_SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "CODER_SECRET_KEY": "bench-secret",
        "CODER_LOGGING_HUMAN": "",
        "CODER_GUNICORN_WORKERS": "2",
        "CODER_DANGEROUS_DISABLE_RATE_LIMITS": "true",
        "CODER_UPDATE_CHECK": "false",  # benchmarks never leave loopback
        "CODER_WILDCARD_ACCESS_URL": "*.apps.bench",
        "CODER_WORKSPACE_NETWORK": "host",
    }
    token = seed(env, upstream_port)
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.proxy", "--serve-upstream"],
        env={**env, "CODER_HTTP_ADDRESS": f"127.0.0.1:{upstream_port}"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    load_before = os.getloadavg()
    rows = []
    try:
        direct_url = f"http://127.0.0.1:{upstream_port}"
        start_upstream_wait(direct_url)
        process, url = start("pycoderd", env)
        try:
            servers = {"upstream": upstream.pid, "pycoderd": process.pid}

            def load(target: str, headers: dict) -> dict:
                return run_wrk(target, args.duration, args.connections, headers, servers)

            for path in ("/small", "/blob"):
                direct = load(direct_url + path, {})
                public = load(url + path, {"Host": "pub--bench.apps.bench"})
                authed = load(
                    url + path,
                    {"Host": "authed--bench.apps.bench", "Coder-Session-Token": token},
                )
                rows.append((path, direct, public, authed))
        finally:
            stop(process)
    finally:
        stop(upstream)
    load_after = os.getloadavg()
    text = render(args, rows, load_before, load_after)
    print(text)
    if not args.no_write:
        report.write_section("Dev URL proxy", text)


def start_upstream_wait(url: str) -> None:
    import time

    import requests

    for _ in range(150):
        try:
            requests.get(url + "/healthz", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError("the upstream did not start")


def floor_lines(rows) -> list[str]:
    """What a bare hop costs, and the ratio a proxy costing no more than one could reach.

    The upstream is itself a bare Flask app on pycoderd's gunicorn configuration, so its CPU per
    direct request is what one Python HTTP hop costs here; a proxy is at least one such hop.
    """
    lines = []
    for path, direct, public, authed in rows:
        if path != "/small":
            continue
        hop = direct["cpu_ms"]["upstream"]
        for way, result in (("PUBLIC", public), ("AUTHED + token", authed)):
            cpu = result["cpu_ms"]
            ceiling = hop / (cpu["upstream"] + hop) if cpu["upstream"] + hop else 0.0
            lines.append(
                f"- `/small`, {way}: one bare Flask hop on this gunicorn costs {hop:.2f} ms "
                f"CPU; pycoderd spent {cpu['pycoderd']:.2f} ms, i.e. "
                f"{cpu['pycoderd'] - hop:.2f} ms of its own work (routing, access, the "
                f"upstream exchange) on top. With the upstream at {cpu['upstream']:.2f} ms per "
                f"proxied request, even a proxy costing no more than a bare hop would reach "
                f"about {ceiling:.2f} of direct on these shared cores."
            )
    return lines


def render(args, rows, load_before, load_after) -> str:
    loads = " / ".join(f"{v:.2f}" for v in load_before), " / ".join(f"{v:.2f}" for v in load_after)
    lines = [
        f"Command: `make bench` (or `.venv/bin/python -m bench.proxy --duration {args.duration} "
        f"--connections {args.connections}`)  ",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; date {dt.date.today().isoformat()}; SQLite; wrk -t2 "
        f"-c{args.connections} -d{args.duration}s over loopback; upstream and pycoderd each on "
        "2 gthread gunicorn workers, sharing the same cores.  ",
        f"Load average (1/5/15 min) before: {loads[0]}; after: {loads[1]}.",
        "",
        "| upstream path | way | req/s | MB/s | ratio to direct | goal | p50 ms | p99 ms "
        "| non-2xx | CPU ms/request: upstream + pycoderd |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path, direct, public, authed in rows:
        key = "rps" if path == "/small" else "mbps"
        for way, result in (
            ("direct", direct),
            ("proxy, PUBLIC", public),
            ("proxy, AUTHED + token", authed),
        ):
            ratio = result[key] / direct[key] if direct[key] else 0.0
            goal = (
                ""
                if way == "direct"
                else f"≥ {GOAL} ({'met' if ratio >= GOAL and not result['errors'] else 'NOT met'})"
            )
            cpu = result["cpu_ms"]
            lines.append(
                f"| {path} | {way} | {result['rps']:.0f} | {result['mbps']:.1f} | "
                f"{ratio:.2f} | {goal} | {result['p50']:.2f} | {result['p99']:.2f} | "
                f"{result['errors']} | {cpu['upstream']:.2f} + {cpu['pycoderd']:.2f} |"
            )
    lines += ["", *floor_lines(rows)]
    lines += [
        "",
        "The ratio compares requests/s for `/small` (a ~50-byte JSON answer) and MB/s for "
        "`/blob` (1 MiB per response). CPU ms/request is the user+system time the servers' "
        "workers spent per request during the run (from /proc); it depends far less on other "
        "load than req/s does. With the upstream and pycoderd on the same cores the proxied "
        "throughput is at most upstream / (upstream + pycoderd) of the direct one; the goal "
        "of 0.5 needs pycoderd's share to be no larger than the upstream's.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
