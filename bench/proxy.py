"""Dev URL proxy: throughput and latency through nginx (asking pycoderd) and through pycoderd's
own proxy, against direct access to the same app.

    .venv/bin/python -m bench.proxy [--duration 10] [--connections 16]

The upstream is a small Flask app (a stand-in for a workspace's dev server) on pycoderd's
gunicorn configuration, pinned to CPU 0 (`taskset`); pycoderd serves it as a PUBLIC and as an
AUTHED dev URL on the host network, and Debian's nginx runs `pycoderd nginx-config`'s
configuration in front of pycoderd. pycoderd, nginx and wrk share CPU 1 (this process's affinity,
inherited). wrk loads each way in turn over loopback: small JSON answers (requests/s, p50/p99) and
1 MiB bodies (MB/s). Goals: the nginx way at least 0.8 of direct, pycoderd's own at least 0.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.http_load import free_port, run_wrk, start, stop

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"nginx": 0.8, "pycoderd": 0.5}
FRESH = "direct, a connection per request"
NGINX_MAIN = """
worker_processes 1;
daemon off;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{servers}
}}
"""
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream()
        return

    workdir = Path(tempfile.mkdtemp(prefix="pycoderd-bench-proxy-"))
    pinned = (os.cpu_count() or 1) >= 2
    if pinned:
        # pycoderd, nginx and wrk inherit CPU 1; the upstream gets CPU 0 to itself.
        os.sched_setaffinity(0, {1})
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
        "CODER_PROXY_TRUSTED_ORIGINS": "127.0.0.1/32",
        "CODER_PROXY_TRUSTED_HEADERS": "X-Forwarded-For,X-Forwarded-Proto",
    }
    token = seed(env, upstream_port)
    upstream = subprocess.Popen(
        [*(("taskset", "-c", "0") if pinned else ()), sys.executable, "-m", "bench.proxy"]
        + ["--serve-upstream"],
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
        nginx = None
        try:
            nginx, nginx_url = start_nginx(workdir / "nginx", url.removeprefix("http://"))
            servers = {"upstream": upstream.pid, "pycoderd": process.pid, "nginx": nginx.pid}

            def load(target: str, headers: dict) -> dict:
                return run_wrk(target, args.duration, args.connections, headers, servers)

            public = {"Host": "pub--bench.apps.bench"}
            authed = {"Host": "authed--bench.apps.bench", "Coder-Session-Token": token}
            ways = {
                "direct": (direct_url, {}),
                # What every proxied request costs the app: a connection of its own.
                FRESH: (direct_url, {"Connection": "close"}),
                "nginx, PUBLIC": (nginx_url, public),
                "nginx, AUTHED + token": (nginx_url, authed),
                "pycoderd, PUBLIC": (url, public),
                "pycoderd, AUTHED + token": (url, authed),
            }
            for path in ("/small", "/blob"):
                # Rounds of every way in turn: a busy spell of the shared machine hits one
                # round's ratios, not one way's.
                rounds = [
                    {way: load(base + path, headers) for way, (base, headers) in ways.items()}
                    for _ in range(args.rounds)
                ]
                rows.append((path, median_results(path, rounds)))
        finally:
            if nginx is not None:
                stop_nginx(nginx)
            stop(process)
    finally:
        stop(upstream)
    load_after = os.getloadavg()
    text = render(args, rows, load_before, load_after, pinned)
    print(text)
    if not args.no_write:
        report.write_section("Dev URL proxy", text)


def start_nginx(root: Path, pycoderd: str) -> tuple[subprocess.Popen, str]:
    """Debian's nginx with `pycoderd nginx-config`'s configuration, on a free port."""
    from app import options
    from app.devurls import nginx

    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    root.mkdir(parents=True)
    port = free_port()
    servers = nginx.render(options.load(), listen=f"127.0.0.1:{port}", pycoderd=pycoderd)
    (root / "nginx.conf").write_text(
        NGINX_MAIN.format(
            root=root, servers=servers, user="user root root;" if os.geteuid() == 0 else ""
        )
    )
    process = subprocess.Popen(
        [binary, "-p", str(root), "-c", str(root / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "stderr.log", "w"),  # noqa: SIM115 - read if it fails
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError((root / "stderr.log").read_text())
        try:
            import requests

            requests.get(url + "/", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    stop_nginx(process)
    raise RuntimeError("nginx did not start")


def stop_nginx(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the master, by its pid; its workers follow
        process.wait(timeout=20)


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


def median_results(path: str, rounds: list[dict]) -> dict:
    """Per way: the median of each figure over the rounds, and `ratio`, the median of the
    rounds' ratios to that round's direct run."""
    key = "rps" if path == "/small" else "mbps"
    merged = {}
    for way in rounds[0]:
        runs = [r[way] for r in rounds]
        merged[way] = {
            name: statistics.median(run[name] for run in runs)
            for name in ("rps", "mbps", "p50", "p99")
        }
        merged[way]["errors"] = sum(run["errors"] for run in runs)
        merged[way]["cpu_ms"] = {
            server: statistics.median(run["cpu_ms"][server] for run in runs)
            for server in runs[0]["cpu_ms"]
        }
        merged[way]["ratio"] = statistics.median(
            r[way][key] / r["direct"][key] if r["direct"][key] else 0.0 for r in rounds
        )
    return merged


def profile_lines(rows) -> list[str]:
    """Where the time of the nginx way goes, from the run's own numbers."""
    lines = []
    for path, results in rows:
        direct, fresh = results["direct"], results[FRESH]
        ceiling = fresh["ratio"]
        for way in ("nginx, PUBLIC", "nginx, AUTHED + token"):
            cpu = results[way]["cpu_ms"]
            lines.append(
                f"- `{path}`, {way}: the app spends {cpu['upstream']:.2f} ms CPU per proxied "
                f"request against {direct['cpu_ms']['upstream']:.2f} ms direct on a kept-alive "
                f"connection ({fresh['cpu_ms']['upstream']:.2f} ms with a connection per "
                "request): every proxied exchange has a connection of its own (issue 14 "
                f"finding 2), which caps this way at about {ceiling:.2f} of direct on CPU 0. "
                f"On CPU 1, pycoderd's authorization costs {cpu['pycoderd']:.2f} ms and nginx "
                f"{cpu['nginx']:.2f} ms per request, besides wrk."
            )
    return lines


def render(args, rows, load_before, load_after, pinned: bool) -> str:
    loads = " / ".join(f"{v:.2f}" for v in load_before), " / ".join(f"{v:.2f}" for v in load_after)
    placement = (
        "upstream pinned to CPU 0 (`taskset -c 0`); pycoderd, nginx and wrk on CPU 1"
        if pinned
        else "one core: nothing pinned"
    )
    lines = [
        f"Command: `make bench` (or `.venv/bin/python -m bench.proxy --duration {args.duration} "
        f"--connections {args.connections} --rounds {args.rounds}`)  ",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; date {dt.date.today().isoformat()}; SQLite; wrk -t2 "
        f"-c{args.connections} -d{args.duration}s over loopback, {args.rounds} rounds of every way "
        "in turn (medians); upstream and pycoderd each on "
        f"2 gthread gunicorn workers, nginx 1 worker; {placement}.  ",
        f"Load average (1/5/15 min) before: {loads[0]}; after: {loads[1]} (a shared machine).",
        "",
        "| upstream path | way | req/s | MB/s | ratio to direct (median of rounds) | goal "
        "| p50 ms | p99 ms | non-2xx | CPU ms/request: upstream + pycoderd + nginx |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path, results in rows:
        for way, result in results.items():
            ratio = result["ratio"]
            goal = GOALS.get(way.split(",")[0])
            verdict = (
                f"≥ {goal} ({'met' if ratio >= goal and not result['errors'] else 'NOT met'})"
                if goal
                else ""
            )
            cpu = result["cpu_ms"]
            lines.append(
                f"| {path} | {way} | {result['rps']:.0f} | {result['mbps']:.1f} | "
                f"{ratio:.2f} | {verdict} | {result['p50']:.2f} | {result['p99']:.2f} | "
                f"{result['errors']} | {cpu['upstream']:.2f} + {cpu['pycoderd']:.2f} + "
                f"{cpu['nginx']:.2f} |"
            )
    lines += ["", *profile_lines(rows)]
    lines += [
        "",
        "The ratio compares requests/s for `/small` (a ~50-byte JSON answer) and MB/s for "
        '`/blob` (1 MiB per response). "nginx" is `pycoderd nginx-config`\'s configuration: '
        'nginx asks pycoderd (auth_request) and carries the request itself; "pycoderd" is '
        "pycoderd's own proxy. CPU ms/request is the user+system time each server's workers "
        "spent per request during the run (from /proc): it depends far less on the machine's "
        "other load than req/s does. With the upstream alone on CPU 0, direct throughput is "
        "bounded by the upstream; a way through the proxies keeps up while the work on CPU 1 "
        "(wrk, nginx, pycoderd) per request costs no more than the upstream's on CPU 0.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
