"""Workspace build time: create call → ON through pycoderd, against pulling and starting the same
image directly through the engine (Podman's Docker-compatible API), both from a cold image cache.

    .venv/bin/python -m bench.workspaces [--runs 5] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import docker
import requests

from bench import report

REPOSITORY = "bench/shell"
POLL = 0.02


def _direct(client, image: str, runs: int) -> list[float]:
    """Pull, create (same limits, labels and volume as pycoderd) and start, from a cold cache."""
    timings = []
    for n in range(runs):
        _forget(client, image)
        started = time.perf_counter()
        repository, tag = image.rsplit(":", 1)
        client.images.pull(repository, tag=tag)
        client.volumes.create(f"bench-home-{n}", labels={"com.coder.workspace_id": "bench"})
        container = client.containers.create(
            image,
            name=f"bench-direct-{n}",
            labels={"com.coder.workspace_id": "bench"},
            nano_cpus=500_000_000,
            mem_limit=256 * 1024**2,
            memswap_limit=256 * 1024**2,
            volumes={f"bench-home-{n}": {"bind": "/home/bench", "mode": "rw"}},
            network_mode="host",
            tty=True,
            stdin_open=True,
            detach=True,
        )
        container.start()
        timings.append(time.perf_counter() - started)
        container.remove(force=True)
        client.api.remove_volume(f"bench-home-{n}", force=True)
    return timings


def _forget(client, image: str) -> None:
    try:
        client.images.remove(image, force=True)
    except docker.errors.NotFound:
        pass


def _through_pycoderd(server, client, image_id: str, image: str, runs: int) -> list[float]:
    headers = {"Session-Token": server.token}
    timings = []
    for n in range(runs):
        _forget(client, image)
        started = time.perf_counter()
        response = requests.post(
            f"{server.url}/api/v0/workspaces",
            json={"name": f"bench{n}", "image_id": image_id, "cpu_cores": 0.5, "memory_gb": 0.25},
            headers=headers,
            timeout=30,
        )
        response.raise_for_status()
        url = f"{server.url}/api/v0/workspaces/{response.json()['id']}"
        while True:
            status = requests.get(url, headers=headers, timeout=30).json()["latest_stat"]
            if status["container_status"] == "ON":
                break
            if status["container_status"] == "FAILED":
                raise RuntimeError(status["stat_error"])
            time.sleep(POLL)
        timings.append(time.perf_counter() - started)
        requests.delete(url, headers=headers, timeout=30).raise_for_status()
        while requests.get(url, headers=headers, timeout=30).status_code != 404:
            time.sleep(POLL)
    return timings


def _seed_image(server, registry_host: str, root: Path) -> str:
    from app import create_app, db
    from tests.conftest import base_config
    from tests.support.workspaces import make_image

    config = base_config(root)
    config["CODER_SQLITE_PATH"] = server.env["CODER_SQLITE_PATH"]
    create_app(config)
    try:
        return make_image(registry_host, REPOSITORY).id
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from tests.support import live_server, podman, registry

    if podman.missing_tools() or not registry.available():
        print("bench.workspaces: skipped (needs podman, runc, docker-registry: .ci/services.sh)")
        return
    root = Path(tempfile.mkdtemp(prefix="pycoderd-bench-ws-"))
    hub = registry.start(root / "registry")
    engine = podman.Podman(root / "podman", [hub.host])
    server = None
    try:
        engine.start()
        hub.push_image(REPOSITORY, "latest")
        image = f"{hub.host}/{REPOSITORY}:latest"
        client = docker.DockerClient(base_url=engine.url)
        direct = _direct(client, image, args.runs)
        (root / "server").mkdir()
        server = live_server.start(
            root / "server",
            extra_env={
                "CODER_DOCKER_HOST": engine.url,
                "CODER_WORKSPACE_NETWORK": "host",
                "CODER_PROVISIONER_DAEMON_POLL_INTERVAL": "100ms",
            },
            workers=2,
        )
        server.cli("users", "create", "bench", "--email", "bench@example.com")
        server.token = server.cli("tokens", "create", "bench", "--user", "bench")
        image_id = _seed_image(server, hub.host, root)
        through = _through_pycoderd(server, client, image_id, image, args.runs)
    finally:
        if server is not None:
            live_server.stop(server)
        engine.stop()
        hub.stop()
    lines = _report(direct, through, args.runs)
    print(lines)
    if not args.no_write:
        report.write_section("Workspace build: create → ON", lines)


def _report(direct: list[float], through: list[float], runs: int) -> str:
    d, t = statistics.median(direct), statistics.median(through)
    command = f".venv/bin/python -m bench.workspaces --runs {runs}"
    return f"""Command: `{command}` (also run by `make bench`).

Podman {_podman_version()} (runc, vfs storage) behind its Docker-compatible socket; a busybox
image in a loopback docker-registry; the local image removed before every run, so each run pulls.
*Direct*: pull + create (same limits, labels, home volume, host network) + start through the
`docker` SDK. *pycoderd*: `POST /api/v0/workspaces` on `pycoderd server` (2 workers, daemons in
the background process polling every 100 ms) until `GET` says `ON` (polled every 20 ms).

| path | median s | min s | max s |
| --- | --- | --- | --- |
| direct through the engine | {d:.3f} | {min(direct):.3f} | {max(direct):.3f} |
| pycoderd create → ON | {t:.3f} | {min(through):.3f} | {max(through):.3f} |

Overhead: **{t / d:.2f}×** the direct time (goal: under 1.5×). pycoderd adds the queue wait (up to
one poll interval), the build log and status writes, the removal of any previous container by
name and the status polling of the client."""


def _podman_version() -> str:
    import subprocess

    result = subprocess.run(["podman", "--version"], capture_output=True, text=True)
    return result.stdout.strip().rsplit(" ", 1)[-1]


if __name__ == "__main__":
    main()
